import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Discovery } from '../router/discovery/discovery.ts'
import { BackendPool } from '../router/pool.ts'
import { answer } from '../router/proxy.ts'
import { keepRawJsonBodies } from '../router/raw-body.ts'
import { Exchange } from '../router/upstream.ts'
import { HttpError } from '../shared/errors.ts'
import { createMetricsRegistry, registerMetricsRoute } from '../shared/metrics.ts'
import { createServer } from '../shared/server.ts'
import { createChooser } from './choose.ts'
import type { FrontendConfig } from './config.ts'
import { Dispatcher } from './dispatch.ts'
import type { Ticket } from './dispatch.ts'
import { Fleet } from './fleet.ts'
import { createCompletionHandler } from './handler.ts'
import { KvIndex } from './kv-index.ts'
import { createFrontendMetrics } from './metrics.ts'
import { RequestQueue } from './queue.ts'

export interface Frontend {
  app: FastifyInstance
  fleet: Fleet
  /** Starts discovery; called once the HTTP server listens. Stopped when the app closes. */
  start(): void
  /** At the end of a drain that ran out of time: every request still queued or in flight ends now (503). */
  cutOff(): Promise<void>
  /** Settles when no request is queued or in flight. */
  idle(): Promise<void>
}

/** The frontend's parts, and its routes, all in one table. Discovery is made with the frontend's logger. */
export function buildFrontend(
  config: FrontendConfig,
  createDiscovery: (log: FastifyBaseLogger) => Discovery,
): Frontend {
  // Requests that arrive while draining get the frontend's own 503 in OpenAI's shape, not fastify's.
  const app = createServer({
    service: 'frontend',
    bodyLimit: config.maxRequestBodyBytes,
    logLevel: config.logLevel,
    limits: config,
    return503OnClosing: false,
  })
  keepRawJsonBodies(app)
  // While draining, a keep-alive connection whose last answer ends after the drain began would
  // otherwise stay open until its keep-alive timeout and hold the exit back.
  app.addHook('onResponse', async () => {
    if (app.draining) setImmediate(() => app.server.closeIdleConnections())
  })
  const discovery = createDiscovery(app.log.child({ component: 'discovery' }))
  const registry = createMetricsRegistry()
  const metrics = createFrontendMetrics(registry, () => fleet.all)
  const pool = new BackendPool(
    {
      health: {
        path: config.healthPath,
        intervalMs: config.healthIntervalMs,
        timeoutMs: config.healthTimeoutMs,
        healthyThreshold: config.healthyThreshold,
        unhealthyThreshold: config.unhealthyThreshold,
      },
      outlier: {
        consecutiveErrors: config.consecutiveErrors,
        baseEjectionMs: config.baseEjectionMs,
        maxEjectionMs: config.maxEjectionMs,
      },
      halfOpenRequests: config.halfOpenRequests,
    },
    app.log.child({ component: 'pool' }),
    (address) => metrics.forget(address),
  )
  const kvIndex = config.policy === 'kv' ? new KvIndex({ ttlMs: config.kvPredictionTtlMs }) : null
  const queue = new RequestQueue<Ticket>({ classes: config.priorityClasses, maxPerClass: config.maxQueuedPerClass })
  const chooser = createChooser(config.policy, {
    kvIndex,
    overlapWeight: config.kvOverlapScoreWeight,
    temperature: config.routerTemperature,
    log: app.log.child({ component: 'router' }),
  })
  const dispatcher = new Dispatcher({
    queue,
    routable: () => fleet.routable(),
    chooser,
    batchWindowMs: config.batchWindowMs,
  })
  const fleet = new Fleet({
    pool,
    load: {
      queueThreshold: config.queueThreshold,
      defaultMaxNumSeqs: config.defaultMaxNumSeqs,
      stalenessMs: config.metricsStalenessMs,
      defaultBlockSize: config.blockSize,
    },
    metricsIntervalMs: config.metricsIntervalMs,
    kvIndex,
    log: app.log,
    onReport: () => dispatcher.wake(),
  })
  const servedModels = () => new Set(fleet.all.flatMap((t) => t.load.report?.models ?? []))
  const live = new Set<(reason: 'shutdown') => void>()
  const completion = createCompletionHandler({ app, config, queue, dispatcher, metrics, servedModels, live })

  app.post('/v1/completions', completion)
  app.post('/v1/chat/completions', completion)

  // The model list needs no queue: any backend in service answers it.
  app.get('/v1/models', async (request, reply) => {
    const backend = fleet.routable()[0]?.backend
    const permit = backend?.breaker.acquire()
    if (!backend || !permit)
      throw new HttpError(503, 'ServiceUnavailableError', 'No backend is in service.', null, 'no_healthy_backend')
    const controller = new AbortController()
    reply.raw.on('close', () => controller.abort('client closed'))
    const result = await new Exchange(backend, permit, metrics.attempts).send({
      method: 'GET',
      path: '/v1/models',
      headers: { accept: 'application/json' },
      signal: controller.signal,
    })
    if (result.kind === 'failed') {
      if (result.answer) return answer(reply, backend, result.answer)
      throw new HttpError(502, 'BadGatewayError', `The backend ${backend.address} failed: ${result.reason}.`)
    }
    return answer(reply, backend, result)
  })

  app.get('/health', async (_request, reply) => reply.code(200).send())

  app.get('/ready', async (_request, reply) => {
    if (app.draining) return reply.code(503).send({ ready: false, reason: 'shutting down' })
    const inService = fleet.all.filter((t) => t.backend.inService).length
    if (inService === 0)
      return reply.code(503).send({ ready: false, reason: 'no healthy backend', backends: fleet.all.length })
    return { ready: true, healthyBackends: inService, backends: fleet.all.length, queued: queue.size }
  })

  app.get('/backends', async () =>
    fleet.all.map((t) => ({
      ...t.backend.status(),
      requests: t.load.requests,
      inFlight: t.load.inFlight,
      maxNumSeqs: t.load.maxNumSeqs,
      activeBlocks: t.load.activeBlocks,
      saturated: t.load.saturated,
      metricsAgeMs: Number.isFinite(t.load.age) ? Math.round(t.load.age) : null,
      kvEvents: t.events ? t.events.connected : null,
      kvBlocks: kvIndex ? kvIndex.storedCount(t.address) : null,
    })),
  )

  registerMetricsRoute(app, registry)
  app.addHook('onClose', async () => {
    dispatcher.stop()
    await discovery.stop()
    fleet.stop()
  })
  return {
    app,
    fleet,
    start: () => discovery.start((backends) => fleet.update(backends)),
    async idle() {
      while (live.size > 0) await new Promise((resolve) => setTimeout(resolve, 20))
    },
    async cutOff() {
      for (const end of live) end('shutdown')
      // A moment for those answers to be written before the connections are cut.
      await new Promise((resolve) => setTimeout(resolve, 100))
    },
  }
}
