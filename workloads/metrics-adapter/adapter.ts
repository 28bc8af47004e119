import type { KubeConfig } from '@kubernetes/client-node'
import type { FastifyInstance } from 'fastify'
import { readAuthenticationConfig, type AuthenticationConfig } from './authentication.ts'
import { subjectAccessReviewer } from './authorization.ts'
import type { MetricsAdapterConfig } from './config.ts'
import { readMetric } from './metric-reader.ts'
import { scrapeTargets } from './scrape-targets.ts'
import { buildServer } from './server.ts'

export interface Adapter {
  app: FastifyInstance
  /** Reads the client CAs, then again every refresh period until the server closes. */
  start(): Promise<void>
}

/** The adapter's server wired to a cluster: its client CAs, its SubjectAccessReviews, its EndpointSlices. */
export function createAdapter(
  config: MetricsAdapterConfig,
  kubeConfig: KubeConfig,
  tls: { cert: string; key: string },
): Adapter {
  let authentication: AuthenticationConfig | undefined
  const app = buildServer(config, {
    tls,
    authentication: () => authentication,
    authorize: subjectAccessReviewer(kubeConfig, config.authorizationCacheMs),
    read: (metric, namespace, labelSelector) =>
      readMetric(metric, namespace, labelSelector, {
        targetsOf: (ns, selector) => scrapeTargets(kubeConfig, ns, selector, config.scrapePort),
        scrapeTimeoutMs: config.scrapeTimeoutMs,
      }),
  })
  // A failed read keeps the last CAs; until the first succeeds, /readyz says so and requests get a 503.
  const refresh = async () => {
    try {
      authentication = await readAuthenticationConfig(kubeConfig)
    } catch (error) {
      app.log.warn({ err: error }, 'could not read kube-system/extension-apiserver-authentication')
    }
  }
  let timer: NodeJS.Timeout | undefined
  app.addHook('onClose', async () => clearInterval(timer))
  return {
    app,
    async start() {
      await refresh()
      timer = setInterval(() => void refresh(), config.authenticationRefreshMs)
    },
  }
}
