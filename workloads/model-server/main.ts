import { serveUntilSignal } from '../shared/server.ts'
import { configFromCommandLine } from '../shared/config.ts'
import { loadConfig, usage } from './config.ts'
import { seededRandom } from './random.ts'
import { buildModelServer } from './server.ts'

const config = configFromCommandLine(loadConfig, usage)

const { app, group } = buildModelServer(config, seededRandom(config.seed))
// The group's secret stays out of the log.
app.log.info({ config: { ...config, groupSecret: config.groupSecret ? '(set)' : '' } }, 'model server starting')
try {
  await serveUntilSignal(app, { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs })
  await group.start()
} catch (error) {
  app.log.fatal({ err: error }, 'model server could not start')
  process.exit(1)
}
