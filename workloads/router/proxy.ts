import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpError } from '../shared/errors.ts'
import { REQUEST_ID_HEADER } from '../shared/request-id.ts'
import type { Backend } from './backend.ts'
import type { RouterConfig } from './config.ts'
import type { RouterMetrics } from './metrics.ts'
import type { Policy } from './policies/policy.ts'
import type { BackendPool } from './pool.ts'
import { rawBodyOf } from './raw-body.ts'
import { routeRequest } from './request-info.ts'
import type { RetryBudget } from './retry-budget.ts'
import { Exchange } from './upstream.ts'
import type { AbortReason, Answer, Failure } from './upstream.ts'

export interface ProxyParts {
  config: RouterConfig
  pool: BackendPool
  policy: Policy
  budget: RetryBudget
  metrics: RouterMetrics
}

/** The header that names the backend that answered. */
export const backendHeader = 'x-serving-lab-backend'

/** Request headers passed on to the backend, besides the affinity header and the request's id. */
const forwardedRequestHeaders = ['authorization']
/** Answer headers passed back to the client, besides the backend's name (the request's id is the router's own). */
const forwardedAnswerHeaders = ['content-type', 'cache-control']

/**
 * The handler of the proxied routes: picks a backend with the policy among those that may take a
 * request, sends the request there, and passes the answer back. A failed attempt (unreachable,
 * or a 500/502/503/504 answer) is tried again on another backend, at most `maxRetries` times and
 * within the retry budget; nothing has reached the client by then, since a whole answer is read
 * before it is passed on and a stream is passed on only once its backend answered 200. The
 * request's time limit covers every attempt and the whole stream; a client that goes away
 * cancels the request to the backend.
 */
export function createProxyHandler({ config, pool, policy, budget, metrics }: ProxyParts) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const route = routeRequest(request.headers, request.body, config.affinityHeader)
    const body = rawBodyOf(request)
    const controller = new AbortController()
    const abort = (reason: AbortReason) => controller.abort(reason)
    const deadline = setTimeout(abort, config.requestTimeoutMs, 'timeout')
    reply.raw.on('close', () => {
      clearTimeout(deadline)
      if (!reply.raw.writableFinished) abort('client closed')
    })
    const upstream = {
      method: request.method,
      path: upstreamPath(request),
      headers: forwardedHeaders(request, config.affinityHeader),
      body: request.method === 'POST' ? (body ?? Buffer.alloc(0)) : undefined,
      signal: controller.signal,
    }

    budget.request()
    const tried = new Set<Backend>()
    let failure: Failure | undefined
    for (;;) {
      const candidates = pool.candidates(tried)
      if (candidates.length === 0) break
      const backend = policy.pick(candidates, route)
      tried.add(backend)
      const exchange = new Exchange(backend, backend.breaker.acquire()!, metrics)
      const result = await exchange.send(upstream)
      if (result.kind !== 'failed') return answer(reply, backend, result)

      failure = result
      request.log.warn({ backend: backend.address, outcome: result.outcome, reason: result.reason }, 'attempt failed')
      if (!result.retryable || controller.signal.aborted || tried.size > config.maxRetries) break
      if (pool.candidates(tried).length === 0) break
      if (!budget.tryRetry()) {
        request.log.warn('retry budget exhausted: not retrying')
        break
      }
      metrics.retries.inc()
    }
    if (!failure) {
      metrics.requests.inc({ backend: 'none', outcome: 'rejected' })
      throw new HttpError(
        503,
        'ServiceUnavailableError',
        'No healthy backend can take the request.',
        null,
        'no_healthy_backend',
      )
    }
    return answerFailure(reply, tried, failure, config)
  }
}

/**
 * The route's own path and the query string: never the raw request target, which may be in
 * absolute form (`POST http://host/v1/completions`) and would make no URL on the backend.
 */
export function upstreamPath(request: FastifyRequest): string {
  const query = request.url.indexOf('?')
  return request.routeOptions.url + (query >= 0 ? request.url.slice(query) : '')
}

/** The headers a backend gets: what the client accepts, the body's type, and a few passed on as they came. */
export function forwardedHeaders(request: FastifyRequest, affinityHeader: string): Record<string, string> {
  const headers: Record<string, string> = { accept: request.headers.accept ?? '*/*', 'x-forwarded-for': request.ip }
  if (request.method === 'POST') headers['content-type'] = 'application/json'
  // The id this hop logs the request under (the client's when it sent a sane one), so the next
  // hop logs it under the same.
  headers[REQUEST_ID_HEADER] = request.id
  for (const name of [...forwardedRequestHeaders, affinityHeader]) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  return headers
}

/** Passes a backend's answer on, a whole one or a stream, naming the backend in a header. */
export function answer(reply: FastifyReply, backend: Backend, result: Answer) {
  reply.code(result.status)
  for (const name of forwardedAnswerHeaders) {
    const value = result.headers[name]
    if (value !== undefined) reply.header(name, value)
  }
  reply.header(backendHeader, backend.address)
  // A stream is piped through as it comes, with backpressure: fastify writes each chunk when
  // the client's socket takes it, and reads the next from the backend only then.
  return reply.send(result.body)
}

function answerFailure(reply: FastifyReply, tried: ReadonlySet<Backend>, failure: Failure, config: RouterConfig) {
  const last = [...tried].at(-1)!
  if (failure.notSent) {
    throw new HttpError(500, 'InternalServerError', `The router could not send the request: ${failure.reason}.`)
  }
  if (failure.answer) return answer(reply, last, failure.answer)
  if (failure.outcome === 'timeout') {
    throw new HttpError(
      504,
      'GatewayTimeoutError',
      `No answer from the backends within ${config.requestTimeoutMs} ms.`,
      null,
      'upstream_timeout',
    )
  }
  if (failure.outcome === 'cancelled') {
    // Nobody will read it, but the log says what happened (nginx's 499 for the same).
    throw new HttpError(499, 'ClientClosedRequest', 'The client closed the connection before the answer was complete.')
  }
  const names = [...tried].map((b) => b.address).join(', ')
  throw new HttpError(
    502,
    'BadGatewayError',
    `No backend could answer (tried ${names}): ${failure.reason}.`,
    null,
    'upstream_unreachable',
  )
}
