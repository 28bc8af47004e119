import { KubeConfig } from '@kubernetes/client-node'
import { configFromCommandLine } from '../shared/config.ts'
import { serveUntilSignal } from '../shared/server.ts'
import { GpuInventoryAgent } from './agent.ts'
import { loadConfig, usage } from './config.ts'
import { buildServer } from './server.ts'

const config = configFromCommandLine(loadConfig, usage)
const kubeConfig = new KubeConfig()
kubeConfig.loadFromDefault()
const app = buildServer(config, () => agent.status())
const agent = new GpuInventoryAgent({ settings: config, kubeConfig, log: app.log.child({ component: 'agent' }) })
app.addHook('onClose', () => agent.stop())
app.log.info({ config }, 'gpu-inventory starting')
try {
  await serveUntilSignal(app, { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs })
  agent.start()
} catch (error) {
  app.log.fatal({ err: error }, 'gpu-inventory could not start')
  process.exit(1)
}
