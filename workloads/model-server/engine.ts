import { setTimeout as sleep } from 'node:timers/promises'
import type { Group } from './group/group.ts'
import type { LatencyModel } from './latency.ts'
import type { FinishedReason, ModelServerMetrics } from './metrics.ts'
import type { Scheduler, Ticket } from './scheduler.ts'

/** One sequence to generate: its prompt and its answer, decided up front; the engine paces it out. */
export interface SequenceSpec {
  prompt: readonly string[]
  output: readonly string[]
  finishReason: 'stop' | 'length'
}

/** Called for each generated token; `finishReason` is set on the last one. */
export type OnToken = (token: string, finishReason: 'stop' | 'length' | null) => void

interface EngineParts {
  scheduler: Scheduler
  latency: LatencyModel
  group: Group
  metrics: ModelServerMetrics
}

/**
 * Runs sequences the way vLLM's engine would be seen from outside: wait for a slot and KV
 * blocks, prefill (time to first token), then one decode step per token, each a round trip to
 * every rank of the group, recording vLLM's metrics along the way.
 */
export class Engine {
  constructor(private readonly parts: EngineParts) {}

  /** Whether the scheduler could take these sequences at all, idle: if not, the request is a 400, not a 429. */
  couldEverTake(specs: readonly SequenceSpec[]): boolean {
    return this.parts.scheduler.couldEverTake(specs.map((s) => ({ totalTokens: s.prompt.length + s.output.length })))
  }

  /** Queues one request's sequences, all or none, at its priority; null when the waiting queue is full. */
  submit(specs: readonly SequenceSpec[], priority: number): Sequence[] | null {
    const arrival = performance.now()
    const tickets = this.parts.scheduler.submit(
      specs.map((s) => ({ prompt: s.prompt, totalTokens: s.prompt.length + s.output.length })),
      priority,
    )
    return tickets && tickets.map((ticket, i) => new Sequence(this.parts, specs[i]!, ticket, arrival))
  }
}

export class Sequence {
  constructor(
    private readonly parts: EngineParts,
    private readonly spec: SequenceSpec,
    private readonly ticket: Ticket,
    private readonly arrival: number,
  ) {}

  /**
   * Generates the answer, calling `onToken` for each token. Whatever ends it (the last token,
   * `signal` aborting, the group breaking), the slot and KV blocks are given back.
   */
  async run(signal: AbortSignal, onToken: OnToken): Promise<void> {
    const { scheduler, latency, group, metrics } = this.parts
    const { prompt, output } = this.spec
    let finished: FinishedReason | null = null
    try {
      const allocation = await untilAborted(this.ticket.admitted, signal)
      metrics.prefixCacheQueries.inc(prompt.length)
      metrics.prefixCacheHits.inc(allocation.cachedTokens)
      await pause(latency.timeToFirstTokenMs(prompt.length - allocation.cachedTokens), signal)
      let last = this.arrival
      for (let i = 0; i < output.length; i++) {
        if (i > 0) await pause(latency.interTokenLatencyMs(scheduler.running), signal)
        // A client that leaves frees its slot at once, even while a rank is slow to answer.
        await untilAborted(group.step(), signal)
        scheduler.grow(this.ticket, prompt.length + i + 1)
        const now = performance.now()
        if (i === 0) {
          metrics.promptTokens.inc(prompt.length)
          metrics.timeToFirstToken.observe((now - this.arrival) / 1000)
        } else {
          metrics.interTokenLatency.observe((now - last) / 1000)
        }
        last = now
        metrics.generationTokens.inc()
        const done = i === output.length - 1
        if (done) finished = this.spec.finishReason
        onToken(output[i]!, done ? this.spec.finishReason : null)
      }
    } finally {
      scheduler.release(this.ticket)
      if (!finished && signal.aborted) finished = 'abort'
      if (finished) {
        metrics.requestSuccess(finished).inc()
        metrics.e2eLatency.observe((performance.now() - this.arrival) / 1000)
      }
    }
  }
}

/** Waits `ms`, or not at all for 0: a zero timer would still cost a trip through the event loop. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms > 0) await sleep(ms, undefined, { signal })
  else signal.throwIfAborted()
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}
