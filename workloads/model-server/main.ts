import { serveUntilSignal } from '../shared/server.ts'
import { configFromCommandLine } from '../shared/config.ts'
import { loadConfig, usage } from './config.ts'
import { seededRandom } from './random.ts'
import { buildModelServer } from './server.ts'
import { loadWaitConfig, waitForRendezvous } from './wait-for-rendezvous.ts'

const wait = configFromCommandLine(loadWaitConfig, usage)
if (wait) process.exit((await waitForRendezvous(wait, (line) => console.log(line))) ? 0 : 1)

const config = configFromCommandLine(loadConfig, usage)

const { app, group, live, liveChanged } = buildModelServer(config, seededRandom(config.seed))
// The group's secret stays out of the log.
app.log.info({ config: { ...config, groupSecret: config.groupSecret ? '(set)' : '' } }, 'model server starting')
// Only a server that follows the accepted configuration loads the Kubernetes client: it is most of
// the process's memory at rest, and a server without --accepted-config never calls it.
const followConfig = config.acceptedConfig
  ? (await import('../shared/accepted-config.ts')).acceptedConfigFollower(app, {
      name: config.acceptedConfig,
      namespace: config.namespace,
      live,
      log: app.log.child({ component: 'config' }),
      onChange: liveChanged,
    })
  : () => {}
try {
  await serveUntilSignal(app, { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs })
  await group.start()
  followConfig()
} catch (error) {
  app.log.fatal({ err: error }, 'model server could not start')
  process.exit(1)
}
