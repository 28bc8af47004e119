import { hostname } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import Fastify, { LogController } from 'fastify'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { connectionLimitDefaults } from './config.ts'
import type { ConnectionLimitsConfig } from './config.ts'
import { HttpError, toOpenAIError } from './errors.ts'
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** True once shutdown began: readiness endpoints answer 503 from then on. */
    draining: boolean
  }
}

export interface ServerOptions {
  /** The workload's name, in every log line as `service`: model-server, router, frontend, … */
  service: string
  /** Largest request body accepted, in bytes; larger ones get a 413. */
  bodyLimit?: number
  /** How long a client may take, and how many connections it may hold. */
  limits?: ConnectionLimitsConfig
  logLevel?: string
  /** Fields added to every log line, such as the pod's name and index. */
  logBindings?: Record<string, unknown>
  /**
   * Fastify's own plain 503 for every request that arrives while the server closes (its
   * default, true). A workload that answers those itself, in OpenAI's shape, passes false.
   */
  return503OnClosing?: boolean
}

/**
 * Routes kubelet and Prometheus call every few seconds: their requests are not logged, nor a 503
 * while not ready (that is the answer a probe expects then); only errors are.
 */
const quietRoutes = new Set(['/health', '/ready', '/metrics'])

/**
 * One access-log line a request, written when its answer is sent, as nginx and Envoy write
 * theirs: the request, the status and the time it took. Fastify's default also writes a line
 * when the request arrives, which doubles the cost of logging on every hop and says nothing this
 * one does not: the arrival is `time` less `responseTime`. Errors are logged as fastify logs them.
 */
class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) super.requestCompleted(error, request, reply)
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

/**
 * A fastify instance with JSON logs on stdout and one error handler that answers every
 * failure, including unknown routes, in OpenAI's error shape. Every request has an id, the
 * client's `x-request-id` when it is sane, else a new one: it is in each of the request's log
 * lines (`reqId`) and echoed in the answer's `x-request-id`.
 */
export function createServer(options: ServerOptions): FastifyInstance {
  const limits = options.limits ?? connectionLimitDefaults
  const app = Fastify({
    logger: {
      level: options.logLevel ?? 'info',
      // process.stdout writes synchronously to files and pipes, so lines stay in order and the
      // last ones are not lost when the process exits right after logging them.
      stream: process.stdout,
      base: { service: options.service, pid: process.pid, hostname: hostname(), ...options.logBindings },
    },
    logController: new AccessLog(),
    genReqId: requestIdOf,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    return503OnClosing: options.return503OnClosing ?? true,
    // Request bodies are JSON, which carries its own types: `"max_tokens": "5"` is a client
    // mistake to report (as OpenAI does), not a string to coerce. Query strings are not
    // coerced either, so a route that takes numbers there must say `type: 'string'` and convert.
    // Where a schema forbids other properties, one is refused rather than silently dropped, so
    // a misspelt field is reported.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    // Node's own timers, as nginx's client_header_timeout and client_body_timeout: a client that
    // trickles its request in, or never finishes it, gets a 408 rather than a connection held open.
    requestTimeout: limits.bodyTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.bodyTimeoutMs,
      // How often Node looks for requests past those timeouts (its default, 30 s, would let a
      // short timeout run 30 s over).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
  })
  app.server.maxConnections = limits.maxConnections
  // Bodies are JSON or nothing: a text/plain body is refused with 415 rather than read as a string.
  app.removeContentTypeParser('text/plain')
  app.decorate('draining', false)
  app.addHook('onRoute', (route) => {
    if (quietRoutes.has(route.url)) route.logLevel = 'error'
  })
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
  // A keep-alive connection would hold the drain open after its last answer: close it instead.
  app.addHook('onSend', async (_request, reply) => {
    if (app.draining) reply.header('connection', 'close')
  })

  app.setErrorHandler((error, request, reply) => {
    const { statusCode, body } = toOpenAIError(error)
    // An HttpError is an answer the workload chose (a 503 while not ready, say); anything else is a bug.
    if (statusCode >= 500 && !(error instanceof HttpError)) request.log.error({ err: error }, 'request failed')
    else if (statusCode >= 500) request.log.warn({ statusCode, error: body.error.message }, 'request failed')
    else request.log.info({ statusCode, error: body.error.message }, 'request rejected')
    return reply.code(statusCode).send(body)
  })
  app.setNotFoundHandler((request, reply) => {
    const allowed = allowedMethods(app, request.url)
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '))
      throw new HttpError(405, 'invalid_request_error', `Method Not Allowed (${request.method} ${pathOf(request.url)})`)
    }
    throw new HttpError(404, 'invalid_request_error', `Invalid URL (${request.method} ${pathOf(request.url)})`)
  })
  return app
}

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const

/** The methods a path has routes for: a path that exists, asked with another method, is a 405 (RFC 9110), not a 404. */
function allowedMethods(app: FastifyInstance, url: string): string[] {
  const path = pathOf(url)
  return methods.filter((method) => app.hasRoute({ method, url: path }))
}

/** The path of a request target, whether origin-form (`/v1/models?x`) or absolute-form (`http://host/v1/models`). */
export function pathOf(url: string): string {
  try {
    return new URL(url, 'http://placeholder').pathname
  } catch {
    return url.split('?')[0]!
  }
}

export interface ServeOptions {
  port: number
  host: string
  /** How long requests in flight may take to finish after SIGTERM before they are cut off. */
  drainTimeoutMs: number
  /** Called when the drain timeout is reached, before open connections are cut: a last chance to answer. */
  beforeCutOff?: () => Promise<void>
  /**
   * Settles once the workload has no work left. Given, the server keeps listening until then
   * (within the drain timeout), so new clients get the workload's own 503 and readiness probes
   * a 503, rather than a refused connection; then it closes.
   */
  untilIdle?: () => Promise<void>
}

/**
 * Listens, then on the first SIGTERM or SIGINT drains: marks the app draining, stops accepting
 * connections, waits for requests in flight (fastify's close does the waiting) up to the drain
 * timeout, and exits 0. A second SIGTERM is not caught, so it stops the process at once.
 */
export async function serveUntilSignal(app: FastifyInstance, options: ServeOptions): Promise<void> {
  await app.listen({ port: options.port, host: options.host })
  let stopping = false
  const drain = async (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    app.draining = true
    app.log.info({ signal, drainTimeoutMs: options.drainTimeoutMs }, 'draining')
    const deadline = Date.now() + options.drainTimeoutMs
    if (options.untilIdle) await Promise.race([options.untilIdle(), delay(options.drainTimeoutMs)])
    const closed = app.close().then(() => true)
    const timedOut = delay(Math.max(0, deadline - Date.now()), false)
    if (!(await Promise.race([closed, timedOut]))) {
      app.log.warn({ drainTimeoutMs: options.drainTimeoutMs }, 'drain timeout reached, closing open connections')
      if (options.beforeCutOff) await Promise.race([options.beforeCutOff(), delay(1000)])
      app.server.closeAllConnections()
      // Let the onClose hooks run now the requests are cut off (say, leaving a group), but briefly.
      await Promise.race([closed, delay(2000)])
    }
    app.log.info('stopped')
    process.exit(0)
  }
  process.once('SIGTERM', drain)
  process.once('SIGINT', drain)
}
