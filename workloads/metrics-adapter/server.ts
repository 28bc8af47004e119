import { X509Certificate } from 'node:crypto'
import { hostname } from 'node:os'
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { Counter, Histogram, type Registry } from 'prom-client'
import { createMetricsRegistry, registerMetricsRoute } from '../shared/metrics.ts'
import { pathOf } from '../shared/server.ts'
import {
  GROUP,
  GROUP_VERSION,
  apiGroup,
  apiGroupList,
  apiResourceList,
  externalMetricValueList,
  selectorLabels,
  status,
} from './api-objects.ts'
import { authenticate, type AuthenticationConfig, type User } from './authentication.ts'
import type { Authorize } from './authorization.ts'
import type { MetricsAdapterConfig } from './config.ts'
import type { MetricReading } from './metric-reader.ts'
import { servedMetric, servedMetrics, type ServedMetric } from './served-metrics.ts'

export interface AdapterDependencies {
  /** The serving certificate and key, PEM. */
  tls: { cert: string; key: string }
  /** The client CAs and front-proxy settings, as last read; undefined until the first read. */
  authentication: () => AuthenticationConfig | undefined
  authorize: Authorize
  read: (metric: ServedMetric, namespace: string, labelSelector: string) => Promise<MetricReading>
  registry?: Registry
}

/** A failure that is answered as a Kubernetes `Status`. */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: { name?: string; group?: string; kind?: string },
  ) {
    super(message)
  }
}

/** Paths anyone may read, as kube-apiserver's --authorization-always-allow-paths: probes have no certificate. */
const openPaths = new Set(['/healthz', '/readyz', '/livez', '/metrics'])

/** The peer's certificates, its own first, as Node hands over the chain it received. */
function peerChain(request: FastifyRequest): X509Certificate[] {
  const socket = request.raw.socket as TLSSocket
  const chain: X509Certificate[] = []
  let current: DetailedPeerCertificate | undefined = socket.getPeerCertificate?.(true)
  while (current?.raw && chain.length < 5) {
    chain.push(new X509Certificate(current.raw))
    // The last certificate of a chain names itself as its issuer.
    if (current.issuerCertificate === current) break
    current = current.issuerCertificate
  }
  return chain
}

/**
 * A failed read as the caller's mistake where it is one: the API server refuses a malformed
 * selector with a 400; anything else (no right to list EndpointSlices there, say) is the adapter's 500.
 */
const asStatusError = (namespace: string, labelSelector: string) => (error: unknown) => {
  const code = (error as { code?: number }).code
  if (code === 400) throw new StatusError(400, `invalid labelSelector "${labelSelector}"`)
  throw new StatusError(500, `could not read the EndpointSlices of ${namespace}: ${(error as Error).message}`)
}

declare module 'fastify' {
  interface FastifyRequest {
    user: User | null
  }
}

/**
 * The adapter's API over TLS. It asks every client for a certificate but does not refuse a
 * connection without one (the kubelet's probes have none): each request is authenticated in a
 * hook, and every failure is answered as a Kubernetes `Status`, which is what the aggregator
 * passes on to `kubectl` and the HPA controller.
 */
export function buildServer(config: MetricsAdapterConfig, deps: AdapterDependencies): FastifyInstance {
  const app = Fastify({
    https: { cert: deps.tls.cert, key: deps.tls.key, requestCert: true, rejectUnauthorized: false },
    logger: { level: config.logLevel, stream: process.stdout, base: { pid: process.pid, hostname: hostname() } },
    bodyLimit: config.maxRequestBodyBytes,
    requestTimeout: config.bodyTimeoutMs,
    keepAliveTimeout: config.idleTimeoutMs,
  }) as unknown as FastifyInstance
  app.server.maxConnections = config.maxConnections
  app.decorate('draining', false)
  app.decorateRequest('user', null)

  const registry = deps.registry ?? createMetricsRegistry()
  const queries = new Counter({
    name: 'serving_lab_metrics_adapter_queries_total',
    help: 'External metric queries answered, by metric and HTTP code',
    labelNames: ['metric', 'code'],
    registers: [registry],
  })
  const readSeconds = new Histogram({
    name: 'serving_lab_metrics_adapter_read_seconds',
    help: "Time to read one metric: list the EndpointSlices, scrape the pods' /metrics",
    labelNames: ['metric'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })

  app.addHook('onRequest', async (request) => {
    if (openPaths.has(pathOf(request.url))) return
    const authentication = deps.authentication()
    if (!authentication)
      throw new StatusError(503, 'the client CAs are not read yet (kube-system/extension-apiserver-authentication)')
    const result = authenticate(authentication, peerChain(request), request.raw.headersDistinct as never)
    if (!result.user) throw new StatusError(401, `Unauthorized: ${result.reason}`)
    request.user = result.user
  })

  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const code = error instanceof StatusError ? error.code : (error.statusCode ?? 500)
    const details = error instanceof StatusError ? error.details : undefined
    if (code >= 500) request.log.warn({ err: error }, 'request failed')
    else request.log.info({ code, error: error.message }, 'request rejected')
    return reply.code(code).send(status(code, error.message, details))
  })
  // /openapi/v2 and /openapi/v3 land here too: the aggregator's OpenAPI downloader takes a 404
  // as "this server publishes no spec" and carries on.
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(status(404, `the server could not find the requested resource (${pathOf(request.url)})`)),
  )

  app.get('/healthz', async () => 'ok')
  app.get('/livez', async () => 'ok')
  app.get('/readyz', async (_request, reply) => {
    if (app.draining) return reply.code(503).send('draining')
    if (!deps.authentication()) return reply.code(503).send('client CAs not read yet')
    return 'ok'
  })
  registerMetricsRoute(app, registry)

  app.get('/apis', async () => apiGroupList())
  app.get(`/apis/${GROUP}`, async () => apiGroup())
  app.get(`/apis/${GROUP_VERSION}`, async () => apiResourceList(servedMetrics))
  app.get<{ Params: { namespace: string; metric: string }; Querystring: { labelSelector?: string } }>(
    `/apis/${GROUP_VERSION}/namespaces/:namespace/:metric`,
    async (request, reply) => {
      const { namespace, metric: name } = request.params
      const labelSelector = request.query.labelSelector ?? ''
      try {
        const metric = servedMetric(name)
        if (!metric)
          throw new StatusError(404, `the server could not find the metric ${name} for namespace ${namespace}`, {
            name,
            group: GROUP,
            kind: name,
          })
        const decision = await deps.authorize(request.user!, namespace, name)
        if (!decision.allowed)
          throw new StatusError(
            403,
            `${request.user!.name} cannot get resource "${name}" in API group "${GROUP}" in the namespace "${namespace}"` +
              (decision.reason ? `: ${decision.reason}` : ''),
            { name, group: GROUP, kind: name },
          )
        const stopTimer = readSeconds.startTimer({ metric: name })
        const reading = await deps
          .read(metric, namespace, labelSelector)
          .catch(asStatusError(namespace, labelSelector))
          .finally(stopTimer)
        request.log.debug({ metric: name, namespace, labelSelector, ...reading }, 'metric read')
        queries.inc({ metric: name, code: 200 })
        const values =
          reading.value === null
            ? []
            : [
                {
                  metricName: name,
                  metricLabels: selectorLabels(labelSelector),
                  value: reading.value,
                  timestamp: new Date(),
                },
              ]
        return reply.send(externalMetricValueList(values))
      } catch (error) {
        queries.inc({ metric: name, code: error instanceof StatusError ? error.code : 500 })
        throw error
      }
    },
  )
  return app
}
