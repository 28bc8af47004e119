import { serveUntilSignal } from '../shared/server.ts'
import { ConfigError, loadConfig, usage } from './config.ts'
import { seededRandom } from './random.ts'
import { buildModelServer } from './server.ts'

const argv = process.argv.slice(2)
if (argv.includes('--help')) {
  console.log(usage())
  process.exit(0)
}

let config
try {
  config = loadConfig(argv, process.env)
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  console.error(error.message)
  process.exit(2)
}

const { app, group } = buildModelServer(config, seededRandom(config.seed))
app.log.info({ config }, 'model server starting')
try {
  await serveUntilSignal(app, { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs })
  await group.start()
} catch (error) {
  app.log.fatal({ err: error }, 'model server could not start')
  process.exit(1)
}
