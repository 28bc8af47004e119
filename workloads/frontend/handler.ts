import { pipeline } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { answer, backendHeader, forwardedHeaders, upstreamPath } from '../router/proxy.ts'
import { rawBodyOf } from '../router/raw-body.ts'
import { routeRequest } from '../router/request-info.ts'
import { Exchange } from '../router/upstream.ts'
import type { Failure, UpstreamRequest } from '../router/upstream.ts'
import { blockHashes } from '../shared/block-hashes.ts'
import { HttpError } from '../shared/errors.ts'
import { requestPromptTokens } from '../shared/prompt.ts'
import type { FrontendConfig } from './config.ts'
import { Ticket } from './dispatch.ts'
import type { Dispatcher, Settlement } from './dispatch.ts'
import type { FrontendMetrics, RequestStatus } from './metrics.ts'
import type { RequestQueue } from './queue.ts'
import { deadlineOf, modelLabel, priorityOf } from './request-fields.ts'
import { TokenMeter } from './token-meter.ts'

export interface HandlerParts {
  app: FastifyInstance
  config: FrontendConfig
  queue: RequestQueue<Ticket>
  dispatcher: Dispatcher
  metrics: FrontendMetrics
  /** The models the backends serve (from their metrics), for the `model` label. */
  servedModels: () => ReadonlySet<string>
  /** How to end each request accepted and not yet ended, for a drain that runs out of time. */
  live: Set<(reason: 'shutdown') => void>
}

/** Why a request's signal was aborted: its deadline, its client, or a drain that ran out of time. */
type AbortReason = 'timeout' | 'client closed' | 'shutdown'

/** How a stream that did not reach its end is counted, by why it was cut. */
const cutStatus: Record<AbortReason, RequestStatus> = {
  timeout: 'deadline_exceeded',
  'client closed': 'cancelled',
  shutdown: 'shutting_down',
}

/**
 * Failures of a request the backend never started on, which may therefore wait again for
 * another: the connection was refused or could not be made; the backend answered 503 (a
 * stopping server, or one not ready, refuses before it reads the request); or the connection
 * was reset with no answer when the request went out on a kept-alive connection, which is how
 * a server closing its idle connections (as it does on SIGTERM) meets a request sent at that
 * moment (Node's documentation names this race). That last case could in principle also be a
 * server that died after reading the request: sending it again then costs compute twice, but
 * the client still gets one answer, since nothing of the first reached it. A reset on a new
 * connection, or any failure once the answer's headers arrived, is not retried.
 */
export function notTaken(failure: Failure): boolean {
  if (failure.answer) return failure.answer.status === 503
  if (failure.outcome !== 'error' || failure.code === undefined) return false
  if (failure.code === 'ECONNRESET') return failure.reusedSocket === true && failure.answerBegan !== true
  return notTakenCodes.has(failure.code)
}
const notTakenCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/**
 * One completion from arrival to its one final answer. The request is checked (priority,
 * deadline), queued (429 when its class is full), waits for a backend with room, and is sent
 * there; its answer, a whole one or a stream, is passed back. Every accepted request ends
 * exactly once, counted in `requests_total` with how it ended: answered, 429, 504 (its deadline
 * passed, queued or in flight; a queued one is never sent afterwards), cancelled (the client
 * went away: it leaves the queue, or its request to the backend is aborted), or 503 (shutting
 * down). A backend that never started it (see `notTaken`) is replaced: the request goes back to
 * the front of its class for another backend, up to `maxRetries` times.
 */
export function createCompletionHandler(parts: HandlerParts) {
  const { app, config, queue, dispatcher, metrics, servedModels, live } = parts
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const arrived = performance.now()
    const body = request.body
    const priority = priorityOf(request.headers, body, config.priorityClasses)
    const deadlineMs = deadlineOf(request.headers, config.defaultDeadlineMs, config.maxDeadlineMs)
    const labels = { model: modelLabel(body, servedModels()), priority: String(priority) }
    if (app.draining) {
      metrics.requests.inc({ ...labels, status: 'shutting_down' })
      throw new HttpError(503, 'ServiceUnavailableError', 'The frontend is shutting down.', null, 'shutting_down')
    }

    const path = request.routeOptions.url!
    const prompts = requestPromptTokens(path, body)
    const promptTokens = prompts?.reduce((sum, tokens) => sum + tokens.length, 0) ?? 0
    const first = prompts?.[0] ?? []
    const ticket = new Ticket(routeRequest(request.headers, body, config.affinityHeader), promptTokens, (size) =>
      blockHashes(first, size),
    )
    let settled = ticket.waiting()
    const entry = dispatcher.submit(ticket, priority, arrived + deadlineMs)
    if (!entry) {
      metrics.requests.inc({ ...labels, status: 'queue_full' })
      reply.header('retry-after', String(config.retryAfterSeconds))
      throw new HttpError(
        429,
        'RateLimitError',
        `The queue of priority ${priority} is full (${config.maxQueuedPerClass} waiting); retry later.`,
        null,
        'queue_full',
      )
    }

    metrics.inflight.inc(labels)
    metrics.queued.inc(labels)
    metrics.inputTokens.observe(labels, promptTokens)
    const controller = new AbortController()
    let queuedSince: number | null = arrived
    let waited = 0
    const leaveQueue = () => {
      if (queuedSince === null) return
      waited += performance.now() - queuedSince
      queuedSince = null
      metrics.queued.dec(labels)
    }
    const abort = (reason: AbortReason) => {
      if (controller.signal.aborted) return
      controller.abort(reason)
      const kind = reason === 'timeout' ? 'expired' : reason === 'client closed' ? 'cancelled' : 'shutdown'
      if (queue.remove(entry)) ticket.settle({ kind })
    }
    live.add(abort)
    const timer = setTimeout(abort, deadlineMs, 'timeout')
    let ended = false
    const end = (status: RequestStatus) => {
      if (ended) return
      ended = true
      clearTimeout(timer)
      live.delete(abort)
      leaveQueue()
      metrics.inflight.dec(labels)
      metrics.requests.inc({ ...labels, status })
      metrics.queueWait.observe(labels, waited / 1000)
      metrics.requestDuration.observe(labels, (performance.now() - arrived) / 1000)
    }
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort('client closed')
    })
    // A client can go before this handler runs; its close event is then already past.
    if (request.raw.socket?.destroyed) abort('client closed')

    const upstream: UpstreamRequest = {
      method: 'POST',
      path: upstreamPath(request),
      headers: forwardedHeaders(request, config.affinityHeader),
      body: rawBodyOf(request) ?? Buffer.alloc(0),
      signal: controller.signal,
    }
    let retries = 0
    for (;;) {
      const settlement: Settlement = await settled
      leaveQueue()
      if (settlement.kind !== 'assigned') return endUnsent(settlement.kind)
      const { tracked, permit, blocks, overlapBlocks } = settlement
      const exchange = new Exchange(tracked.backend, permit, metrics.attempts)
      let released = false
      const release = () => {
        if (released) return
        released = true
        tracked.load.finished(blocks)
        dispatcher.wake()
      }
      if (controller.signal.aborted) {
        exchange.finish('not sent')
        release()
        return endUnsent(reasonKind(controller.signal.reason as AbortReason))
      }
      if (config.policy === 'kv') metrics.overlapBlocks.observe({ model: labels.model }, overlapBlocks)

      const result = await exchange.send(upstream)
      if (result.kind === 'failed') {
        release()
        if (notTaken(result) && retries < config.maxRetries && !controller.signal.aborted) {
          retries++
          ticket.exclude.add(tracked.address)
          request.log.warn({ backend: tracked.address, reason: result.reason }, 'backend did not take it: queued again')
          settled = ticket.waiting()
          queuedSince = performance.now()
          metrics.queued.inc(labels)
          dispatcher.requeue(entry)
          continue
        }
        return answerFailure(result, tracked.backend.address)
      }

      const meter = new TokenMeter()
      if (result.kind === 'whole') {
        release()
        meter.whole(result.body)
        recordTokens(meter)
        end(result.status < 400 ? 'success' : 'error')
        return answer(reply, tracked.backend, result)
      }
      // pipeline, not pipe: a stream the backend or a drain cuts off must end the client's too.
      const watched = meter.watch()
      pipeline(result.body, watched, () => {})
      result.body.once('close', release)
      const streamEnded = () => {
        release()
        recordTokens(meter)
        const code = meter.times.errorCode
        if (!reply.raw.writableFinished) end(cutStatus[controller.signal.reason as AbortReason] ?? 'cancelled')
        else if (code === undefined) end('success')
        else end(code === 'upstream_timeout' ? 'deadline_exceeded' : 'error')
      }
      if (reply.raw.destroyed) streamEnded()
      else reply.raw.once('close', streamEnded)
      return answer(reply, tracked.backend, { ...result, body: watched })
    }

    function recordTokens(meter: TokenMeter) {
      const { firstTokenAt, gapsMs, outputTokens } = meter.times
      if (firstTokenAt !== null) metrics.timeToFirstToken.observe(labels, (firstTokenAt - arrived) / 1000)
      for (const gap of gapsMs) metrics.interTokenLatency.observe(labels, gap / 1000)
      metrics.outputTokens.observe(labels, outputTokens)
    }

    function reasonKind(reason: AbortReason): 'expired' | 'cancelled' | 'shutdown' {
      return reason === 'timeout' ? 'expired' : reason === 'client closed' ? 'cancelled' : 'shutdown'
    }

    /** A request that never reached a backend: its deadline passed, its client left, or the frontend stopped. */
    function endUnsent(kind: 'expired' | 'cancelled' | 'shutdown'): never {
      if (kind === 'expired') {
        end('deadline_exceeded')
        throw new HttpError(
          504,
          'GatewayTimeoutError',
          `No backend could take the request within its deadline of ${deadlineMs} ms.`,
          null,
          'deadline_exceeded',
        )
      }
      if (kind === 'cancelled') {
        end('cancelled')
        throw new HttpError(499, 'ClientClosedRequest', 'The client closed the connection before the answer.')
      }
      end('shutting_down')
      throw new HttpError(503, 'ServiceUnavailableError', 'The frontend is shutting down.', null, 'shutting_down')
    }

    function answerFailure(failure: Failure, address: string) {
      if (failure.notSent) {
        end('error')
        throw new HttpError(500, 'InternalServerError', `The frontend could not send the request: ${failure.reason}.`)
      }
      if (failure.answer) {
        end('error')
        reply.code(failure.answer.status)
        const contentType = failure.answer.headers['content-type']
        if (contentType !== undefined) reply.header('content-type', contentType)
        reply.header(backendHeader, address)
        return reply.send(failure.answer.body)
      }
      if (failure.outcome === 'timeout') {
        end('deadline_exceeded')
        throw new HttpError(
          504,
          'GatewayTimeoutError',
          `The backend ${address} did not answer within the request's deadline of ${deadlineMs} ms.`,
          null,
          'deadline_exceeded',
        )
      }
      if (failure.outcome === 'cancelled') {
        const reason = controller.signal.reason as AbortReason
        if (reason === 'shutdown') return endUnsent('shutdown')
        return endUnsent('cancelled')
      }
      end('error')
      throw new HttpError(
        502,
        'BadGatewayError',
        `The backend ${address} failed: ${failure.reason}.`,
        null,
        'upstream_unreachable',
      )
    }
  }
}
