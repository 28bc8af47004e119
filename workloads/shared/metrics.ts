import { Registry, collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance } from 'fastify'

/** A registry of its own per workload, with the standard process metrics (memory, CPU, event loop). */
export function createMetricsRegistry(): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return registry
}

/** `GET /metrics` in the Prometheus text format the registry declares. */
export function registerMetricsRoute(app: FastifyInstance, registry: Registry): void {
  app.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}
