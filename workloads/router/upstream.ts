import { Agent, request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { PassThrough } from 'node:stream'
import type { Readable } from 'node:stream'
import type { Backend } from './backend.ts'
import type { Permit } from './breaker.ts'
import { ForwardedBody } from './forwarded-body.ts'
import type { Outcome } from './metrics.ts'

/** Why a request's signal was aborted. */
export type AbortReason = 'timeout' | 'client closed'

export interface UpstreamRequest {
  method: string
  path: string
  headers: Record<string, string>
  /** The client's body, byte for byte: read whole, or passed on as it arrives. */
  body?: Buffer | ForwardedBody
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
  /** The router could not even send it (a request Node's client refuses): not the backend's fault. */
  notSent?: boolean
  /** The client error's code (`ECONNREFUSED`, `ECONNRESET`, ...), when the attempt failed without an answer. */
  code?: string
  /** The request went out on a kept-alive connection from an earlier one (Node's `reusedSocket`). */
  reusedSocket?: boolean
  /** The answer's headers had arrived when it failed: the backend had taken the request. */
  answerBegan?: boolean
}

/** Where an exchange counts its attempt: the router's metrics, or the frontend's. */
export interface AttemptMetrics {
  requests: { inc(labels: { backend: string; outcome: Outcome }): void }
  latency: { observe(labels: { backend: string }, seconds: number): void }
}

/** Errors Node's client raises before anything is sent: the request's own fault, never the backend's. */
const notSentCodes = new Set([
  'ERR_INVALID_URL',
  'ERR_UNESCAPED_CHARACTERS',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_CHAR',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
])

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
    private readonly metrics: AttemptMetrics,
  ) {
    backend.outstanding++
  }

  finish(outcome: Exclude<Outcome, 'rejected'> | 'not sent'): void {
    if (this.#done) return
    this.#done = true
    const { backend, permit, metrics } = this
    backend.outstanding--
    if (outcome === 'not sent') {
      backend.breaker.release(permit)
      return
    }
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
    const sent = { reusedSocket: false }
    let answerBegan = false
    try {
      const response = await this.#request(request, sent)
      answerBegan = true
      const status = response.statusCode ?? 502
      const contentType = response.headers['content-type'] ?? ''
      if (status >= 200 && status < 300 && contentType.startsWith('text/event-stream')) {
        return { kind: 'stream', status, headers: response.headers, body: this.#pipeable(response, signal) }
      }
      const answer = { kind: 'whole' as const, status, headers: response.headers, body: await readWhole(response) }
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
      const code = (error as NodeJS.ErrnoException).code
      if (code && notSentCodes.has(code)) {
        this.finish('not sent')
        return { kind: 'failed', outcome: 'error', retryable: false, reason: (error as Error).message, notSent: true }
      }
      const outcome = signal.aborted ? (signal.reason === 'timeout' ? 'timeout' : 'cancelled') : 'error'
      this.finish(outcome)
      return {
        kind: 'failed',
        outcome,
        retryable: outcome === 'error',
        reason: outcome === 'error' ? (error as Error).message : String(signal.reason),
        code,
        reusedSocket: sent.reusedSocket,
        answerBegan,
      }
    }
  }

  /**
   * The request on a kept-alive connection; resolves at the answer's headers. Notes in `sent`
   * whether the connection was reused from an earlier request.
   */
  #request(request: UpstreamRequest, sent: { reusedSocket: boolean }): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const { body } = request
      const headers =
        body === undefined ? request.headers : { ...request.headers, 'content-length': String(body.length) }
      const outgoing = httpRequest(
        {
          ...this.backend.endpoint,
          path: request.path,
          method: request.method,
          headers,
          agent,
          signal: request.signal,
        },
        (response) => {
          sent.reusedSocket = outgoing.reusedSocket
          resolve(response)
        },
      )
      outgoing.on('error', (error) => {
        sent.reusedSocket = outgoing.reusedSocket
        reject(error)
      })
      if (body instanceof ForwardedBody) body.sendOn(outgoing)
      else outgoing.end(body)
    })
  }

  /**
   * The answer as a stream that finishes the exchange when it ends, fails, or is cut off. A
   * stream the backend cuts (or the time limit ends) still ends cleanly for the client, with
   * an OpenAI-style error event and `[DONE]`, as the model server ends a stream its group broke.
   */
  #pipeable(response: IncomingMessage, signal: AbortSignal): Readable {
    const events = new PassThrough()
    let ended = false
    let lastBytes = ''
    response.on('data', (chunk: Buffer) => {
      lastBytes = (lastBytes + chunk.toString('latin1')).slice(-2)
      if (!events.write(chunk)) response.pause()
    })
    events.on('drain', () => response.resume())
    response.once('end', () => (ended = true))
    response.once('error', () => {})
    response.once('close', () => {
      if (ended) {
        this.finish('success')
        events.end()
        return
      }
      const outcome = signal.aborted ? (signal.reason === 'timeout' ? 'timeout' : 'cancelled') : 'error'
      this.finish(outcome)
      if (outcome === 'cancelled') {
        events.destroy()
        return
      }
      // A cut can fall inside an event: close it first, so the error is an event of its own.
      const separator = lastBytes === '\n\n' ? '' : '\n\n'
      const error =
        outcome === 'timeout'
          ? streamError('GatewayTimeoutError', 'The stream did not finish within the time limit.', 'upstream_timeout')
          : streamError(
              'BadGatewayError',
              `The backend ${this.backend.address} broke off the stream.`,
              'upstream_stream_cut',
            )
      events.end(`${separator}data: ${JSON.stringify(error)}\n\ndata: [DONE]\n\n`)
    })
    return events
  }
}

/** An answer's whole body; rejects if the connection breaks first. */
function readWhole(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    response.on('data', (chunk: Buffer) => chunks.push(chunk))
    response.once('end', () => resolve(Buffer.concat(chunks)))
    response.once('error', reject)
    // Cut off before its end, a response closes without an error when its request was aborted.
    response.once('close', () => {
      if (!response.complete) reject(new Error('the answer was cut off'))
    })
  })
}

/** The error event in OpenAI's error shape, as the model server sends one. */
function streamError(type: string, message: string, code: string) {
  return { error: { message, type, param: null, code } }
}
