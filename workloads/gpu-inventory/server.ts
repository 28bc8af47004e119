import type { FastifyInstance } from 'fastify'
import { createServer } from '../shared/server.ts'
import type { AgentStatus } from './agent.ts'
import type { GpuInventoryConfig } from './config.ts'

/** `/health`: the process runs, with what it last read. `/ready`: the node's GPUs were written once (503 before). */
export function buildServer(config: GpuInventoryConfig, status: () => AgentStatus): FastifyInstance {
  const app = createServer({
    service: 'gpu-inventory',
    bodyLimit: config.maxRequestBodyBytes,
    limits: config,
    logLevel: config.logLevel,
    logBindings: { node: config.nodeName },
  })
  app.get('/health', async () => ({ status: 'ok', ...status() }))
  app.get('/ready', async (_request, reply) => {
    const current = status()
    if (app.draining) return reply.code(503).send({ ready: false, reason: 'draining', ...current })
    if (current.writes === 0)
      return reply.code(503).send({ ready: false, reason: 'the ResourceSlice is not written yet', ...current })
    return { ready: true, ...current }
  })
  return app
}
