import { Counter, Gauge, Histogram } from 'prom-client'
import type { Registry } from 'prom-client'

/** vLLM's end-to-end latency buckets, so dashboards built for vLLM read these the same way. */
const requestLatencyBuckets = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]

export type FinishedReason = 'stop' | 'length' | 'abort'

/**
 * The vLLM metrics the simulator exports, under vLLM's exact names and its `model_name` label,
 * already bound to the served model. prom-client keeps a counter's name as given (it adds
 * `_total` only in the OpenMetrics format), so `vllm:prompt_tokens_total` is exposed as is.
 */
export function createModelServerMetrics(registry: Registry, modelName: string) {
  const registers = [registry]
  const model = { model_name: modelName }
  const running = new Gauge({
    name: 'vllm:num_requests_running',
    help: 'Number of requests in model execution batches.',
    labelNames: ['model_name'],
    registers,
  })
  const waiting = new Gauge({
    name: 'vllm:num_requests_waiting',
    help: 'Number of requests waiting to be processed.',
    labelNames: ['model_name'],
    registers,
  })
  const promptTokens = new Counter({
    name: 'vllm:prompt_tokens_total',
    help: 'Number of prefill tokens processed.',
    labelNames: ['model_name'],
    registers,
  })
  const generationTokens = new Counter({
    name: 'vllm:generation_tokens_total',
    help: 'Number of generation tokens processed.',
    labelNames: ['model_name'],
    registers,
  })
  const requestSuccess = new Counter({
    name: 'vllm:request_success_total',
    help: 'Count of successfully processed requests.',
    labelNames: ['finished_reason', 'model_name'],
    registers,
  })
  const e2eLatency = new Histogram({
    name: 'vllm:e2e_request_latency_seconds',
    help: 'Histogram of end to end request latency in seconds.',
    labelNames: ['model_name'],
    buckets: requestLatencyBuckets,
    registers,
  })

  // Series exist from the start, at zero, as in vLLM: a rate() over them works before traffic.
  running.set(model, 0)
  waiting.set(model, 0)
  promptTokens.inc(model, 0)
  generationTokens.inc(model, 0)
  for (const reason of ['stop', 'length', 'abort'] satisfies FinishedReason[]) {
    requestSuccess.inc({ finished_reason: reason, ...model }, 0)
  }
  e2eLatency.zero(model)

  return {
    running: running.labels(model),
    waiting: waiting.labels(model),
    promptTokens: promptTokens.labels(model),
    generationTokens: generationTokens.labels(model),
    requestSuccess: (reason: FinishedReason) => requestSuccess.labels({ finished_reason: reason, ...model }),
    e2eLatency: e2eLatency.labels(model),
  }
}

export type ModelServerMetrics = ReturnType<typeof createModelServerMetrics>
