import { KubeConfig } from '@kubernetes/client-node'
import { configFromCommandLine } from '../shared/config.ts'
import { serveUntilSignal } from '../shared/server.ts'
import { loadConfig, usage } from './config.ts'
import { Coordinator } from './coordinator.ts'
import { createCoordinatorMetrics } from './metrics.ts'
import { buildServer } from './server.ts'

const config = configFromCommandLine(loadConfig, usage)
const kubeConfig = new KubeConfig()
// The pod's service account in a cluster; the default kubeconfig on a laptop.
kubeConfig.loadFromDefault()
const metrics = createCoordinatorMetrics()
const app = buildServer(config, () => coordinator.status(), metrics)
const coordinator = new Coordinator({
  settings: config,
  kubeConfig,
  metrics,
  log: app.log.child({ component: 'coordinator' }),
})
// SIGTERM: stop leading and release the Lease, so a standby takes over at once rather than after a lease duration.
app.addHook('onClose', () => coordinator.stop())
app.log.info({ config }, 'coordinator starting')
try {
  await serveUntilSignal(app, { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs })
  coordinator.start()
} catch (error) {
  app.log.fatal({ err: error }, 'coordinator could not start')
  process.exit(1)
}
