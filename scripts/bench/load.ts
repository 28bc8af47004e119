/** What a closed-loop load measured. */
export interface Load {
  /** Requests sent, failed ones included. */
  requests: number
  failures: number
  /** What the successful requests produced, as `send` counts it (generated tokens, say). */
  work: number
  seconds: number
  latenciesMs: number[]
}

export interface LoadShape {
  concurrency: number
  maxRequests: number
  durationMs: number
}

/**
 * `concurrency` clients, each sending its next request once the last was answered, until
 * `maxRequests` were sent or `durationMs` is over. `send` resolves what the request produced,
 * or null when it failed.
 */
export async function closedLoop(
  { concurrency, maxRequests, durationMs }: LoadShape,
  send: (n: number) => Promise<number | null>,
): Promise<Load> {
  const load: Load = { requests: 0, failures: 0, work: 0, seconds: 0, latenciesMs: [] }
  const started = performance.now()
  const deadline = started + durationMs
  const client = async () => {
    while (load.requests < maxRequests && performance.now() < deadline) {
      const n = ++load.requests
      const sent = performance.now()
      const work = await send(n)
      if (work === null) {
        load.failures++
        continue
      }
      load.work += work
      load.latenciesMs.push(performance.now() - sent)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client))
  load.seconds = (performance.now() - started) / 1000
  return load
}

/** Successful requests per second. */
export const throughput = (load: Load) => (load.requests - load.failures) / load.seconds

/** The p-th percentile of the successful requests' latencies, in ms. */
export const percentile = (load: Load, p: number): number => percentileOf(load.latenciesMs, p)

/** The p-th percentile of `values` (nearest rank); NaN for none. */
export function percentileOf(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}
