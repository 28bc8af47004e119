import { Agent, request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import type { Backend } from './backend.ts'
import type { Permit } from './breaker.ts'
import type { Outcome, RouterMetrics } from './metrics.ts'

/** Why a request's signal was aborted. */
export type AbortReason = 'timeout' | 'client closed'

export interface UpstreamRequest {
  method: string
  path: string
  headers: Record<string, string>
  body?: string
  /** Aborted with an AbortReason when the request's time is up or its client went away. */
  signal: AbortSignal
}

/** An answer to pass on: read whole, or a stream of server-sent events to pipe through. */
export type Answer =
  | { kind: 'whole'; status: number; headers: IncomingHttpHeaders; body: Buffer }
  | { kind: 'stream'; status: number; headers: IncomingHttpHeaders; body: Readable }

/** An attempt that failed before anything reached the client. */
export interface Failure {
  kind: 'failed'
  outcome: 'error' | 'timeout' | 'cancelled'
  /** Another backend may be tried: the backend could not be reached, or answered 500/502/503/504. */
  retryable: boolean
  reason: string
  /** The backend's own error answer (a 5xx), passed on if no retry replaces it. */
  answer?: Answer & { kind: 'whole' }
}

const retryableStatuses = new Set([500, 502, 503, 504])

/**
 * Connections to the backends, kept open between requests. Node's own HTTP client rather than
 * fetch: in Node 20 a fetch costs about five times the CPU of an http.request (measured on
 * loopback: ~370 µs against ~70 µs per completion), and the router makes one per request.
 */
const agent = new Agent({ keepAlive: true, scheduling: 'lifo' })

/**
 * One request to one backend, from sending it to the end of its answer: counts it in flight,
 * and at the end tells the breaker and the metrics how it went, exactly once.
 */
export class Exchange {
  readonly #started = performance.now()
  #done = false

  constructor(
    readonly backend: Backend,
    private readonly permit: Permit,
    private readonly metrics: RouterMetrics,
  ) {
    backend.outstanding++
  }

  finish(outcome: Exclude<Outcome, 'rejected'>): void {
    if (this.#done) return
    this.#done = true
    const { backend, permit, metrics } = this
    backend.outstanding--
    if (outcome === 'success') backend.breaker.success(permit)
    else if (outcome === 'cancelled') backend.breaker.release(permit)
    else backend.breaker.failure(permit)
    metrics.requests.inc({ backend: backend.address, outcome })
    if (outcome !== 'cancelled')
      metrics.latency.observe({ backend: backend.address }, (performance.now() - this.#started) / 1000)
  }

  /**
   * Sends the request. A whole answer is read before it returns, so a backend that fails
   * midway can still be replaced by another; a stream is returned as soon as its headers
   * arrive, and finishes the exchange when it ends.
   */
  async send(request: UpstreamRequest): Promise<Answer | Failure> {
    const { signal } = request
    try {
      const response = await this.#request(request)
      const status = response.statusCode ?? 502
      const contentType = response.headers['content-type'] ?? ''
      if (status >= 200 && status < 300 && contentType.startsWith('text/event-stream')) {
        return { kind: 'stream', status, headers: response.headers, body: this.#pipeable(response, signal) }
      }
      const chunks: Buffer[] = []
      for await (const chunk of response) chunks.push(chunk as Buffer)
      const answer = { kind: 'whole' as const, status, headers: response.headers, body: Buffer.concat(chunks) }
      if (status < 500) {
        this.finish('success')
        return answer
      }
      this.finish('error')
      return {
        kind: 'failed',
        outcome: 'error',
        retryable: retryableStatuses.has(status),
        reason: `answered ${status}`,
        answer,
      }
    } catch (error) {
      const outcome = signal.aborted ? (signal.reason === 'timeout' ? 'timeout' : 'cancelled') : 'error'
      this.finish(outcome)
      return {
        kind: 'failed',
        outcome,
        retryable: outcome === 'error',
        reason: outcome === 'error' ? (error as Error).message : String(signal.reason),
      }
    }
  }

  /** The request on a kept-alive connection; resolves at the answer's headers. */
  #request(request: UpstreamRequest): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers =
        request.body === undefined
          ? request.headers
          : { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) }
      const outgoing = httpRequest(
        this.backend.url + request.path,
        { method: request.method, headers, agent, signal: request.signal },
        resolve,
      )
      outgoing.on('error', reject)
      outgoing.end(request.body)
    })
  }

  /** The answer as a stream that finishes the exchange when it ends, fails, or is cut off. */
  #pipeable(response: IncomingMessage, signal: AbortSignal): Readable {
    let ended = false
    response.once('end', () => (ended = true))
    response.once('close', () => {
      if (ended) this.finish('success')
      else if (signal.aborted) this.finish(signal.reason === 'timeout' ? 'timeout' : 'cancelled')
      else this.finish('error')
    })
    return response
  }
}
