import type { FastifyInstance } from 'fastify'
import { registerMetricsRoute } from '../shared/metrics.ts'
import { createServer } from '../shared/server.ts'
import type { CoordinatorConfig } from './config.ts'
import type { CoordinatorStatus } from './coordinator.ts'
import type { CoordinatorMetrics } from './metrics.ts'

/**
 * `/health`: the process runs, and says whether it leads or stands by. `/ready`: a leader is
 * known (this replica or another), so the coordination works; 503 while none is, or while
 * draining. `/metrics`: Prometheus.
 */
export function buildServer(
  config: CoordinatorConfig,
  status: () => CoordinatorStatus,
  metrics: CoordinatorMetrics,
): FastifyInstance {
  const app = createServer({
    service: 'coordinator',
    bodyLimit: config.maxRequestBodyBytes,
    limits: config,
    logLevel: config.logLevel,
    logBindings: { identity: config.identity },
  })
  app.get('/health', async () => ({ status: 'ok', ...status() }))
  app.get('/ready', async (_request, reply) => {
    const current = status()
    if (app.draining) return reply.code(503).send({ ready: false, reason: 'draining', ...current })
    if (current.leader === null)
      return reply.code(503).send({ ready: false, reason: 'no leader known yet', ...current })
    return { ready: true, ...current }
  })
  registerMetricsRoute(app, metrics.registry)
  return app
}
