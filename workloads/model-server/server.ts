import type { FastifyInstance } from 'fastify'
import packageJson from '../../package.json' with { type: 'json' }
import { createMetricsRegistry, registerMetricsRoute } from '../shared/metrics.ts'
import { createServer } from '../shared/server.ts'
import type { ModelServerConfig } from './config.ts'
import { completionRequestSchema, createCompletionHandler } from './completions.ts'
import { createModelServerMetrics } from './metrics.ts'

/** The model server's routes, all in one table: the API vLLM's OpenAI-compatible server offers. */
export function buildModelServer(config: ModelServerConfig): FastifyInstance {
  const app = createServer({
    bodyLimit: config.maxRequestBodyBytes,
    logLevel: config.logLevel,
    logBindings: { pod: config.podName ?? undefined, podIndex: config.podIndex ?? undefined },
  })
  const registry = createMetricsRegistry()
  const metrics = createModelServerMetrics(registry, config.servedModelName)
  const created = Math.floor(Date.now() / 1000)

  app.post('/v1/completions', { schema: { body: completionRequestSchema } }, createCompletionHandler(config, metrics))

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [
      {
        id: config.servedModelName,
        object: 'model',
        created,
        owned_by: 'vllm',
        root: config.model,
        parent: null,
        max_model_len: config.maxModelLen,
      },
    ],
  }))

  // Like vLLM: 200 with an empty body when ready. 503 once draining, so the Pod leaves its
  // Services' endpoints while requests in flight finish.
  app.get('/health', async (_request, reply) => reply.code(app.draining ? 503 : 200).send())

  app.get('/version', async () => ({
    version: packageJson.version,
    model: config.model,
    served_model_name: config.servedModelName,
    pod_name: config.podName,
    pod_index: config.podIndex,
  }))

  registerMetricsRoute(app, registry)
  return app
}
