import { readFile } from 'node:fs/promises'
import { KubeConfig } from '@kubernetes/client-node'
import { configFromCommandLine } from '../shared/config.ts'
import { serveUntilSignal } from '../shared/server.ts'
import { createAdapter } from './adapter.ts'
import { loadConfig, usage } from './config.ts'
import { provideServingCertificate } from './serving-certificate.ts'

const config = configFromCommandLine(loadConfig, usage)
const kubeConfig = new KubeConfig()
// The pod's service account in a cluster; the default kubeconfig on a laptop.
kubeConfig.loadFromDefault()
const tls = config.certificateSecret
  ? await provideServingCertificate(kubeConfig, {
      namespace: config.namespace,
      service: config.serviceName,
      secret: config.certificateSecret,
      apiService: config.apiService,
    })
  : { cert: await readFile(config.tlsCertFile, 'utf8'), key: await readFile(config.tlsKeyFile, 'utf8') }
const { app, start } = createAdapter(config, kubeConfig, tls)
app.log.info({ config }, 'metrics-adapter starting')
try {
  await start()
  await serveUntilSignal(app, { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs })
} catch (error) {
  app.log.fatal({ err: error }, 'metrics-adapter could not start')
  process.exit(1)
}
