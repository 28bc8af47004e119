import { KubeConfig } from '@kubernetes/client-node'
import type { FastifyBaseLogger } from 'fastify'
import { acceptedConfigFollower } from '../shared/accepted-config.ts'
import { serveUntilSignal } from '../shared/server.ts'
import { configFromCommandLine } from '../shared/config.ts'
import { loadConfig, usage } from './config.ts'
import type { Discovery } from './discovery/discovery.ts'
import { EndpointSliceDiscovery } from './discovery/endpoint-slice-discovery.ts'
import { StaticDiscovery } from './discovery/static.ts'
import { buildRouter } from './server.ts'

const config = configFromCommandLine(loadConfig, usage)

/** `--backends` for a laptop; else the Service's EndpointSlices, through the pod's service account (or the default kubeconfig). */
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

const router = buildRouter(config, createDiscovery)
router.app.log.info({ config }, 'router starting')
const followConfig = config.acceptedConfig
  ? acceptedConfigFollower(router.app, {
      name: config.acceptedConfig,
      namespace: config.namespace,
      live: router.live,
      log: router.app.log.child({ component: 'config' }),
      onChange: router.liveChanged,
    })
  : () => {}
try {
  await serveUntilSignal(router.app, { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs })
  router.start()
  followConfig()
} catch (error) {
  router.app.log.fatal({ err: error }, 'router could not start')
  process.exit(1)
}
