import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { registerConfigReport } from '../shared/config-report.ts'
import { LiveConfig } from '../shared/live-config.ts'
import { createMetricsRegistry, registerMetricsRoute } from '../shared/metrics.ts'
import { createServer } from '../shared/server.ts'
import { liveKeys, settings, validateConfig } from './config.ts'
import type { RouterConfig } from './config.ts'
import type { Discovery } from './discovery/discovery.ts'
import { createRouterMetrics } from './metrics.ts'
import { createPolicy } from './policies/index.ts'
import type { Policy } from './policies/policy.ts'
import { BackendPool } from './pool.ts'
import { createProxyHandler } from './proxy.ts'
import { keepRawJsonBodies } from './raw-body.ts'
import { RetryBudget } from './retry-budget.ts'

export interface Router {
  app: FastifyInstance
  pool: BackendPool
  /** Starts discovery; called once the HTTP server listens. Stopped when the app closes. */
  start(): void
  /** The policy, retries, budget and timeout, which the accepted serving configuration changes in place. */
  live: LiveConfig<RouterConfig>
  /** Called once live fields changed. */
  liveChanged(changed: string[]): void
}

/** The router's parts, and its routes, all in one table. Discovery is made with the router's logger. */
export function buildRouter(config: RouterConfig, createDiscovery: (log: FastifyBaseLogger) => Discovery): Router {
  const app = createServer({
    service: 'router',
    bodyLimit: config.maxRequestBodyBytes,
    logLevel: config.logLevel,
    limits: config,
  })
  // Bodies are read only for a policy that routes by them; `policy` is the live one, set below.
  keepRawJsonBodies(app, { readsBody: () => policy.readsBody })
  // While draining, a keep-alive connection whose last answer (a long stream, say) ends after the
  // drain began would otherwise stay open until its keep-alive timeout and hold the exit back.
  app.addHook('onResponse', async () => {
    if (app.draining) setImmediate(() => app.server.closeIdleConnections())
  })
  const discovery = createDiscovery(app.log.child({ component: 'discovery' }))
  const registry = createMetricsRegistry()
  // The gauges read the pool at each scrape; the pool drops a removed backend's series.
  const metrics = createRouterMetrics(registry, () => pool.all)
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
  // The proxy reads `config` for each request; the policy and the budget are told of a change.
  const live = new LiveConfig({ config, keys: liveKeys, settings, validate: validateConfig })
  let policy = createPolicy(config.policy)
  const currentPolicy: Policy = {
    get name() {
      return policy.name
    },
    get readsBody() {
      return policy.readsBody
    },
    pick: (candidates, route) => policy.pick(candidates, route),
  }
  const budget = new RetryBudget({ percent: config.retryBudgetPercent, minRetries: 10, windowMs: 10_000 })
  const liveChanged = (changed: string[]) => {
    if (changed.includes('policy')) policy = createPolicy(config.policy)
    if (changed.includes('retryBudgetPercent')) budget.setPercent(config.retryBudgetPercent)
  }
  const proxy = createProxyHandler({ config, pool, policy: currentPolicy, budget, metrics })

  app.post('/v1/completions', proxy)
  app.post('/v1/chat/completions', proxy)
  app.get('/v1/models', proxy)

  // Liveness: 200 with an empty body while the process works, draining or not.
  app.get('/health', async (_request, reply) => reply.code(200).send())

  // Readiness: some backend can take a request, and the router is not draining.
  app.get('/ready', async (_request, reply) => {
    if (app.draining) return reply.code(503).send({ ready: false, reason: 'shutting down' })
    const inService = pool.all.filter((b) => b.inService).length
    if (inService === 0)
      return reply.code(503).send({ ready: false, reason: 'no healthy backend', backends: pool.all.length })
    return { ready: true, healthyBackends: inService, backends: pool.all.length }
  })

  app.get('/backends', async () => pool.all.map((backend) => backend.status()))

  registerConfigReport(app, registry, live)

  registerMetricsRoute(app, registry)
  app.addHook('onClose', async () => {
    await discovery.stop()
    pool.stop()
  })
  return {
    app,
    pool,
    start: () => discovery.start((backends) => pool.update(backends)),
    live,
    liveChanged,
  }
}
