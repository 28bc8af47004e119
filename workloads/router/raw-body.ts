import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HttpError } from '../shared/errors.ts'

const rawBodies = new WeakMap<FastifyRequest, Buffer>()

/**
 * JSON bodies are read as bytes and passed on as they came, as Envoy and nginx do: the router
 * parses them only to route (the prompt, the session), so the backend judges exactly what the
 * client sent, however deep or wide, and a body under the router's limit stays under the
 * backend's. A body that is not JSON is refused here with the model server's 400.
 */
export function keepRawJsonBodies(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw: Buffer, done) => {
    if (raw.length === 0) {
      done(
        new HttpError(
          400,
          'invalid_request_error',
          "Body cannot be empty when content-type is set to 'application/json'",
        ),
      )
      return
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(raw.toString('utf8'))
    } catch (error) {
      done(new HttpError(400, 'invalid_request_error', (error as Error).message))
      return
    }
    rawBodies.set(request, raw)
    done(null, parsed)
  })
}

/** The body's bytes as the client sent them; undefined when it sent none. */
export function rawBodyOf(request: FastifyRequest): Buffer | undefined {
  return rawBodies.get(request)
}
