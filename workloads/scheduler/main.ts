import { KubeConfig } from '@kubernetes/client-node'
import { configFromCommandLine } from '../shared/config.ts'
import { serveUntilSignal } from '../shared/server.ts'
import { loadConfig, usage } from './config.ts'
import { createSchedulerMetrics } from './metrics.ts'
import { Scheduler } from './scheduler.ts'
import { buildServer } from './server.ts'

const config = configFromCommandLine(loadConfig, usage)
const kubeConfig = new KubeConfig()
// The pod's service account in a cluster; the default kubeconfig on a laptop.
kubeConfig.loadFromDefault()
const metrics = createSchedulerMetrics()
const app = buildServer(config, () => scheduler.status(), metrics)
const scheduler = new Scheduler({
  settings: config,
  kubeConfig,
  metrics,
  log: app.log.child({ component: 'scheduler' }),
})
// SIGTERM: stop binding and release the Lease, so the standby takes over at once rather than after a lease duration.
app.addHook('onClose', () => scheduler.stop())
app.log.info({ config }, 'scheduler starting')
try {
  await serveUntilSignal(app, { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs })
  scheduler.start()
} catch (error) {
  app.log.fatal({ err: error }, 'scheduler could not start')
  process.exit(1)
}
