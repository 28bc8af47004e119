import { KubeConfig } from '@kubernetes/client-node'
import type { FastifyBaseLogger } from 'fastify'
import type { Discovery } from '../router/discovery/discovery.ts'
import { EndpointSliceDiscovery } from '../router/discovery/endpoint-slice-discovery.ts'
import { StaticDiscovery } from '../router/discovery/static.ts'
import { configFromCommandLine } from '../shared/config.ts'
import { serveUntilSignal } from '../shared/server.ts'
import { loadConfig, usage } from './config.ts'
import { buildFrontend } from './server.ts'

const config = configFromCommandLine(loadConfig, usage)

/** `--backends` for a laptop; else the Service's EndpointSlices, as the router finds them. */
function createDiscovery(log: FastifyBaseLogger): Discovery {
  if (config.backends.length > 0) return new StaticDiscovery(config.backends)
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromDefault()
  return new EndpointSliceDiscovery({
    kubeConfig,
    namespace: config.namespace,
    service: config.service,
    targetPort: config.targetPort,
    log,
  })
}

const frontend = buildFrontend(config, createDiscovery)
frontend.app.log.info({ config }, 'frontend starting')
try {
  await serveUntilSignal(frontend.app, {
    port: config.port,
    host: config.host,
    drainTimeoutMs: config.drainTimeoutMs,
    untilIdle: () => frontend.idle(),
    beforeCutOff: () => frontend.cutOff(),
  })
  frontend.start()
} catch (error) {
  frontend.app.log.fatal({ err: error }, 'frontend could not start')
  process.exit(1)
}
