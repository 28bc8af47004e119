import { Counter, Gauge, Histogram } from 'prom-client'
import type { Registry } from 'prom-client'

/** vLLM's buckets, so dashboards built for vLLM read these the same way. */
const requestLatencyBuckets = [
  0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680,
]
const timeToFirstTokenBuckets = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560,
]
const interTokenLatencyBuckets = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
]

export type FinishedReason = 'stop' | 'length' | 'abort'

/** What the gauges read at each scrape, so they always show the current state. */
export interface MetricSources {
  running(): number
  waiting(): number
  kvCacheUsage(): number
  groupGeneration(): number
  groupReady(): boolean
  groupMembers(): number
  groupSteps(): number
  /** The live `--max-num-seqs`, which the accepted serving configuration may change. */
  maxNumSeqs(): number
  kvEventSubscribers(): number
}

/** The KV cache's fixed shape, as vLLM's `vllm:cache_config_info` labels it. */
export interface CacheConfig {
  blockSize: number
  numGpuBlocks: number
}

/**
 * The vLLM metrics the simulator exports, under vLLM's exact names and its `model_name` label,
 * already bound to the served model. vLLM defines counters such as `vllm:prompt_tokens` and
 * Python's prometheus_client adds `_total` when exposing them; prom-client keeps a counter's
 * name as given, so these are named with `_total` to expose exactly what a scrape of vLLM shows.
 */
export function createModelServerMetrics(
  registry: Registry,
  modelName: string,
  cache: CacheConfig,
  sources: MetricSources,
) {
  const registers = [registry]
  const model = { model_name: modelName }
  const labelNames = ['model_name'] as const
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.set(model, read())
      },
    })
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers })
  const histogram = (name: string, help: string, buckets: number[]) =>
    new Histogram({ name, help, labelNames, buckets, registers })

  gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', sources.running)
  gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', sources.waiting)
  gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', sources.kvCacheUsage)
  // An info metric, as vLLM's: always 1, the facts in its labels (a subset of vLLM's CacheConfig
  // fields, which it exports all of, with no model_name). A router reads the capacity here.
  new Gauge({
    name: 'vllm:cache_config_info',
    help: 'Information of the LLMEngine CacheConfig',
    labelNames: ['block_size', 'cache_dtype', 'enable_prefix_caching', 'engine', 'num_gpu_blocks'],
    registers,
  }).set(
    {
      block_size: String(cache.blockSize),
      cache_dtype: 'auto',
      enable_prefix_caching: 'True',
      engine: '0',
      num_gpu_blocks: String(cache.numGpuBlocks),
    },
    1,
  )
  const promptTokens = counter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.')
  const generationTokens = counter('vllm:generation_tokens_total', 'Number of generation tokens processed.')
  const prefixQueries = counter(
    'vllm:prefix_cache_queries_total',
    'Prefix cache queries, in terms of number of queried tokens.',
  )
  const prefixHits = counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.')
  const requestSuccess = new Counter({
    name: 'vllm:request_success_total',
    help: 'Count of successfully processed requests.',
    labelNames: ['finished_reason', 'model_name'],
    registers,
  })
  const timeToFirstToken = histogram(
    'vllm:time_to_first_token_seconds',
    'Histogram of time to first token in seconds.',
    timeToFirstTokenBuckets,
  )
  const interTokenLatency = histogram(
    'vllm:inter_token_latency_seconds',
    'Histogram of inter-token latency in seconds.',
    interTokenLatencyBuckets,
  )
  const e2eLatency = histogram(
    'vllm:e2e_request_latency_seconds',
    'Histogram of end to end request latency in seconds.',
    requestLatencyBuckets,
  )

  // The lab's own metrics, not vLLM's: the state of the multi-node group this process is in.
  // Every lab metric is `serving_lab_…` (the router's too): Prometheus keeps colons for
  // recording rules, so only vLLM's own names, copied as they are, have one.
  gauge(
    'serving_lab_group_generation',
    "Generation of the group: increases each time the group forms. (The lab's, not vLLM's.)",
    sources.groupGeneration,
  )
  gauge('serving_lab_group_ready', "1 when every rank of the group has joined, else 0. (The lab's, not vLLM's.)", () =>
    Number(sources.groupReady()),
  )
  gauge(
    'serving_lab_group_members',
    "Node ranks currently in the group. (The lab's, not vLLM's.)",
    sources.groupMembers,
  )
  gauge(
    'serving_lab_max_num_seqs',
    "Sequences the server runs at once: the live --max-num-seqs, which the accepted serving configuration may change. (The lab's, not vLLM's.)",
    sources.maxNumSeqs,
  )
  gauge(
    'serving_lab_kv_event_subscribers',
    "Clients of GET /kv-events connected now. (The lab's, not vLLM's.)",
    sources.kvEventSubscribers,
  )
  new Counter({
    name: 'serving_lab_group_steps_total',
    help: "Token steps this rank completed with every rank of the group (leader) or took part in (others). (The lab's, not vLLM's.)",
    labelNames,
    registers,
    collect() {
      this.reset()
      this.inc(model, sources.groupSteps())
    },
  })

  // Series exist from the start, at zero, as in vLLM: a rate() over them works before traffic.
  for (const c of [promptTokens, generationTokens, prefixQueries, prefixHits]) c.inc(model, 0)
  for (const reason of ['stop', 'length', 'abort'] satisfies FinishedReason[]) {
    requestSuccess.inc({ finished_reason: reason, ...model }, 0)
  }
  for (const h of [timeToFirstToken, interTokenLatency, e2eLatency]) h.zero(model)

  return {
    promptTokens: promptTokens.labels(model),
    generationTokens: generationTokens.labels(model),
    prefixCacheQueries: prefixQueries.labels(model),
    prefixCacheHits: prefixHits.labels(model),
    requestSuccess: (reason: FinishedReason) => requestSuccess.labels({ finished_reason: reason, ...model }),
    timeToFirstToken: timeToFirstToken.labels(model),
    interTokenLatency: interTokenLatency.labels(model),
    e2eLatency: e2eLatency.labels(model),
  }
}

export type ModelServerMetrics = ReturnType<typeof createModelServerMetrics>
