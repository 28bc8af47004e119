import type { FastifyInstance } from 'fastify'
import packageJson from '../../package.json' with { type: 'json' }
import { HttpError } from '../shared/errors.ts'
import { registerConfigReport } from '../shared/config-report.ts'
import { LiveConfig } from '../shared/live-config.ts'
import { createMetricsRegistry, registerMetricsRoute } from '../shared/metrics.ts'
import { createServer } from '../shared/server.ts'
import { chatCompletionRequestSchema, createChatCompletionHandler } from './chat.ts'
import { completionRequestSchema, createCompletionHandler } from './completions.ts'
import { liveKeys, settings, validateConfig } from './config.ts'
import type { ModelServerConfig } from './config.ts'
import { Engine } from './engine.ts'
import { FailureInjector, failureSettingsSchema } from './failures.ts'
import type { FailureSettings } from './failures.ts'
import type { GenerationParts } from './generate.ts'
import type { Group } from './group/group.ts'
import { LeaderGroup } from './group/leader.ts'
import { WorkerGroup } from './group/worker.ts'
import { KvCache } from './kv-cache.ts'
import { KvEventPublisher } from './kv-events.ts'
import { createKvEventsHandler } from './kv-events-route.ts'
import { createLatencyModel } from './latency.ts'
import { createModelServerMetrics } from './metrics.ts'
import type { Random } from './random.ts'
import { Scheduler } from './scheduler.ts'

export interface ModelServer {
  app: FastifyInstance
  /** Started by the caller once the HTTP server listens; left when the app closes. */
  group: Group
  /** The scheduler limits and latency model, which the accepted serving configuration changes in place. */
  live: LiveConfig<ModelServerConfig>
  /** Called once live fields changed. */
  liveChanged(): void
}

/** The model server's parts, and its routes, all in one table: the API vLLM's OpenAI-compatible server offers, and the lab's own. */
export function buildModelServer(config: ModelServerConfig, random: Random): ModelServer {
  const app = createServer({
    service: 'model-server',
    bodyLimit: config.maxRequestBodyBytes,
    logLevel: config.logLevel,
    limits: config,
    logBindings: {
      pod: config.podName ?? undefined,
      podIndex: config.podIndex ?? undefined,
      nodeRank: config.nodeRank,
    },
  })
  const groupLog = app.log.child({ component: 'group' })
  const group: Group = config.nodeRank === 0 ? new LeaderGroup(config, groupLog) : new WorkerGroup(config, groupLog)
  const kv = new KvCache(config.blockSize, config.numGpuBlocks)
  const kvEvents = new KvEventPublisher(kv, {
    maxSubscribers: config.kvEventsMaxSubscribers,
    maxBufferedBytes: config.kvEventsMaxBufferedBytes,
    keepAliveMs: config.kvEventsKeepAliveMs,
  })
  // The scheduler and the latency model read `config` at each decision, so a change applies at once.
  const scheduler = new Scheduler(config, kv, config.schedulingPolicy)
  const live = new LiveConfig({ config, keys: liveKeys, settings, validate: validateConfig })
  const registry = createMetricsRegistry()
  const metrics = createModelServerMetrics(registry, config.servedModelName, config, {
    running: () => scheduler.running,
    waiting: () => scheduler.waiting,
    kvCacheUsage: () => kv.usage,
    groupGeneration: () => group.generation,
    groupReady: () => group.ready,
    groupMembers: () => group.members.length,
    groupSteps: () => group.steps,
    maxNumSeqs: () => config.maxNumSeqs,
    kvEventSubscribers: () => kvEvents.subscribers,
  })
  const failures = new FailureInjector({ rate: config.failureRate, types: config.failureTypes }, random)
  const parts: GenerationParts = {
    servedModelName: config.servedModelName,
    schedulingPolicy: config.schedulingPolicy,
    answers: config,
    engine: new Engine({ scheduler, latency: createLatencyModel(config, random), group, metrics }),
    group,
    failures,
  }
  const created = Math.floor(Date.now() / 1000)

  // Only the leader runs the model's API, and so holds the KV cache; the other ranks take part in its steps.
  app.addHook('onRequest', async (request) => {
    if (config.nodeRank !== 0 && leaderOnly.some((prefix) => request.url.startsWith(prefix))) {
      throw new HttpError(
        503,
        'ServiceUnavailableError',
        `This is node rank ${config.nodeRank} of ${config.nnodes}: only the leader, node rank 0 at ${config.masterAddr}, serves the API.`,
        null,
        'not_leader',
      )
    }
  })

  app.post('/v1/completions', { schema: { body: completionRequestSchema } }, createCompletionHandler(parts))
  app.post(
    '/v1/chat/completions',
    { schema: { body: chatCompletionRequestSchema } },
    createChatCompletionHandler(parts),
  )

  app.get('/kv-events', createKvEventsHandler(kvEvents, config.kvEventsMaxSubscribers))

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

  // Liveness, like vLLM: 200 with an empty body while the process works, draining or not, so
  // a slow drain is never mistaken for a hung process.
  app.get('/health', async (_request, reply) => reply.code(200).send())

  // Readiness: this rank's group is complete and it is not draining. 503 takes the pod out of its
  // Services' endpoints while the group is incomplete or requests in flight finish.
  app.get('/ready', async (_request, reply) => {
    if (app.draining) return reply.code(503).send({ ready: false, reason: 'shutting down' })
    if (!group.ready) return reply.code(503).send({ ready: false, state: group.state, reason: group.reason })
    return { ready: true, generation: group.generation }
  })

  app.get('/group', async () => group.status())

  registerConfigReport(app, registry, live)

  app.get('/version', async () => ({
    version: packageJson.version,
    model: config.model,
    served_model_name: config.servedModelName,
    pod_name: config.podName,
    pod_index: config.podIndex,
  }))

  // Failure injection lets anyone who reaches the API port make it fail: only where asked for.
  if (config.enableFailureInjection) registerFailureRoutes(app, failures)
  // Likewise emptying the prefix cache (vLLM serves it only in its development mode).
  if (config.serverDevMode) {
    app.post('/reset_prefix_cache', async (request, reply) => {
      if (!kv.reset()) {
        throw new HttpError(
          409,
          'ConflictError',
          'The prefix cache cannot be reset while requests hold KV blocks; retry when they finish.',
          null,
          'kv_cache_in_use',
        )
      }
      request.log.info('prefix cache reset')
      return reply.code(200).send()
    })
  }

  registerMetricsRoute(app, registry)
  // Event streams never end by themselves: end them first, or closing would wait for the drain timeout.
  app.addHook('preClose', async () => kvEvents.endAll())
  app.addHook('onClose', () => group.leave())
  return { app, group, live, liveChanged: () => scheduler.limitsChanged() }
}

/** Paths only node rank 0 serves. */
const leaderOnly = ['/v1/', '/kv-events', '/reset_prefix_cache']

function registerFailureRoutes(app: FastifyInstance, failures: FailureInjector): void {
  app.get('/admin/failures', async () => failures.settings)
  app.put<{ Body: { rate: number; types?: FailureSettings['types'] } }>(
    '/admin/failures',
    { schema: { body: failureSettingsSchema } },
    async (request) => {
      failures.settings = { rate: request.body.rate, types: request.body.types ?? [] }
      request.log.info({ failures: failures.settings }, 'failure injection changed')
      return failures.settings
    },
  )
}
