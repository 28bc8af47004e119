import { Counter, Gauge, Histogram } from 'prom-client'
import type { Registry } from 'prom-client'
import type { Tracked } from './fleet.ts'

/** How a request accepted by the frontend ended: the `status` label of `requests_total`. */
export type RequestStatus = 'success' | 'error' | 'queue_full' | 'deadline_exceeded' | 'cancelled' | 'shutting_down'
export const requestStatuses: readonly RequestStatus[] = [
  'success',
  'error',
  'queue_full',
  'deadline_exceeded',
  'cancelled',
  'shutting_down',
]

/** From a millisecond to the minutes a long generation can take. */
const secondsBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
const interTokenBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5]
const tokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 131072]
const blockBuckets = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096]

/**
 * The frontend's metrics: Dynamo's frontend metrics (`dynamo_frontend_*`) under the lab's prefix
 * `serving_lab_frontend_`, labelled by `model` and `priority`, plus the queue's wait and the
 * frontend's view of each backend. The README maps each to Dynamo's name.
 */
export function createFrontendMetrics(registry: Registry, backends: () => readonly Tracked[]) {
  const registers = [registry]
  const labelNames = ['model', 'priority'] as const
  const histogram = (name: string, help: string, buckets: number[]) =>
    new Histogram({ name: `serving_lab_frontend_${name}`, help, labelNames, buckets, registers })
  const gauge = (name: string, help: string) =>
    new Gauge({ name: `serving_lab_frontend_${name}`, help, labelNames, registers })

  const requests = new Counter({
    name: 'serving_lab_frontend_requests_total',
    help: 'Requests the frontend took in, by how they ended: success, error, queue_full (429), deadline_exceeded (504), cancelled (the client went away), shutting_down (503).',
    labelNames: ['model', 'priority', 'status'] as const,
    registers,
  })
  const queued = gauge('queued_requests', 'Requests waiting in the frontend queue for a backend with room.')
  const inflight = gauge('inflight_requests', 'Requests taken in and not yet answered in full, queued ones included.')
  const queueWait = histogram(
    'queue_wait_seconds',
    'Time a request waited in the frontend queue, until it was assigned a backend, expired or was cancelled.',
    secondsBuckets,
  )
  const timeToFirstToken = histogram(
    'time_to_first_token_seconds',
    'Time from the request arriving to its first token reaching the frontend (a whole answer: the answer).',
    secondsBuckets,
  )
  const interTokenLatency = histogram(
    'inter_token_latency_seconds',
    'Time between two tokens of a streamed answer.',
    interTokenBuckets,
  )
  const requestDuration = histogram(
    'request_duration_seconds',
    'Time from the request arriving to the end of its answer.',
    secondsBuckets,
  )
  const inputTokens = histogram(
    'input_sequence_tokens',
    "Prompt tokens of a request, by the server's tokenizer.",
    tokenBuckets,
  )
  const outputTokens = histogram(
    'output_sequence_tokens',
    'Tokens a backend generated for a request (its usage, or the streamed tokens counted).',
    tokenBuckets,
  )
  const overlapBlocks = new Histogram({
    name: 'serving_lab_frontend_kv_overlap_blocks',
    help: "kv policy: leading prompt blocks the chosen backend held, by the frontend's index, when it was chosen.",
    labelNames: ['model'] as const,
    buckets: blockBuckets,
    registers,
  })

  const attempts = new Counter({
    name: 'serving_lab_frontend_upstream_requests_total',
    help: 'Requests sent to a backend (each attempt, requeues included), by how they ended.',
    labelNames: ['backend', 'outcome'] as const,
    registers,
  })
  const attemptLatency = new Histogram({
    name: 'serving_lab_frontend_upstream_latency_seconds',
    help: 'Time from sending a request to a backend until its answer ended.',
    labelNames: ['backend'] as const,
    buckets: secondsBuckets,
    registers,
  })
  const perBackend = (name: string, help: string, read: (t: Tracked) => number) =>
    new Gauge({
      name: `serving_lab_frontend_${name}`,
      help,
      labelNames: ['backend'] as const,
      registers,
      collect() {
        this.reset()
        for (const t of backends()) this.set({ backend: t.address }, read(t))
      },
    })
  perBackend(
    'worker_requests',
    "A backend's running plus waiting requests as the frontend estimates them (its last scrape plus what was sent since).",
    (t) => t.load.requests,
  )
  perBackend(
    'worker_active_decode_blocks',
    "A backend's KV blocks in use as the frontend estimates them.",
    (t) => t.load.activeBlocks,
  )
  perBackend('worker_saturated', '1 while a backend is saturated or its metrics are stale, else 0.', (t) =>
    Number(t.load.saturated),
  )
  new Gauge({
    name: 'serving_lab_frontend_healthy_backends',
    help: 'Backends in service: ready in discovery, passing health checks, breaker not open.',
    registers,
    collect() {
      this.set(backends().filter((t) => t.backend.inService).length)
    },
  })

  return {
    requests,
    queued,
    inflight,
    queueWait,
    timeToFirstToken,
    interTokenLatency,
    requestDuration,
    inputTokens,
    outputTokens,
    overlapBlocks,
    /** What the router's Exchange counts each attempt in. */
    attempts: { requests: attempts, latency: attemptLatency },
    /** Drops the series of a backend discovery no longer lists. */
    forget(address: string) {
      for (const outcome of ['success', 'error', 'timeout', 'cancelled']) attempts.remove({ backend: address, outcome })
      attemptLatency.remove({ backend: address })
    },
  }
}

export type FrontendMetrics = ReturnType<typeof createFrontendMetrics>
