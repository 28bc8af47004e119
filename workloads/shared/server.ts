import { hostname } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { HttpError, toOpenAIError } from './errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** True once shutdown began: readiness endpoints answer 503 from then on. */
    draining: boolean
  }
}

export interface ServerOptions {
  /** Largest request body accepted, in bytes; larger ones get a 413. */
  bodyLimit?: number
  logLevel?: string
  /** Fields added to every log line, such as the pod's name and index. */
  logBindings?: Record<string, unknown>
}

/**
 * A fastify instance with JSON logs on stdout and one error handler that answers every
 * failure, including unknown routes, in OpenAI's error shape.
 */
export function createServer(options: ServerOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: {
      level: options.logLevel ?? 'info',
      // process.stdout writes synchronously to files and pipes, so lines stay in order and the
      // last ones are not lost when the process exits right after logging them.
      stream: process.stdout,
      base: { pid: process.pid, hostname: hostname(), ...options.logBindings },
    },
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Request bodies are JSON, which carries its own types: `"max_tokens": "5"` is a client
    // mistake to report (as OpenAI does), not a string to coerce. Query strings are not
    // coerced either, so a route that takes numbers there must say `type: 'string'` and convert.
    // Where a schema forbids other properties, one is refused rather than silently dropped, so
    // a misspelt field is reported.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  })
  app.decorate('draining', false)
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
  app.setNotFoundHandler((request) => {
    throw new HttpError(404, 'invalid_request_error', `Invalid URL (${request.method} ${request.url})`)
  })
  return app
}

export interface ServeOptions {
  port: number
  host: string
  /** How long requests in flight may take to finish after SIGTERM before they are cut off. */
  drainTimeoutMs: number
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
    const closed = app.close().then(() => true)
    const timedOut = delay(options.drainTimeoutMs, false)
    if (!(await Promise.race([closed, timedOut]))) {
      app.log.warn({ drainTimeoutMs: options.drainTimeoutMs }, 'drain timeout reached, closing open connections')
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
