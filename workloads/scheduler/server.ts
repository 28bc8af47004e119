import type { FastifyInstance } from 'fastify'
import { registerMetricsRoute } from '../shared/metrics.ts'
import { createServer } from '../shared/server.ts'
import type { SchedulerConfig } from './config.ts'
import type { SchedulerStatus } from './scheduler.ts'
import type { SchedulerMetrics } from './metrics.ts'

/**
 * `/health`: the process runs, and says whether it leads or stands by. `/ready`: pods, nodes and
 * PodGroups have been listed and a leader is known (this replica or another); 503 otherwise, or
 * while draining. `/metrics`: Prometheus.
 */
export function buildServer(
  config: SchedulerConfig,
  status: () => SchedulerStatus,
  metrics: SchedulerMetrics,
): FastifyInstance {
  const app = createServer({
    service: 'scheduler',
    bodyLimit: config.maxRequestBodyBytes,
    limits: config,
    logLevel: config.logLevel,
    logBindings: { identity: config.identity },
  })
  app.get('/health', async () => ({ status: 'ok', ...status() }))
  app.get('/ready', async (_request, reply) => {
    const current = status()
    if (app.draining) return reply.code(503).send({ ready: false, reason: 'draining', ...current })
    if (!current.synced)
      return reply.code(503).send({ ready: false, reason: 'pods, nodes or PodGroups not listed yet', ...current })
    if (current.leader === null)
      return reply.code(503).send({ ready: false, reason: 'no leader known yet', ...current })
    return { ready: true, ...current }
  })
  registerMetricsRoute(app, metrics.registry)
  return app
}
