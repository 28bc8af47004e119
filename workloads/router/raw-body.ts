import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errorCodes } from 'fastify'
import type { IncomingMessage } from 'node:http'
import { HttpError } from '../shared/errors.ts'
import { ForwardedBody } from './forwarded-body.ts'

const rawBodies = new WeakMap<FastifyRequest, Buffer | ForwardedBody>()

export interface RawBodyOptions {
  /**
   * Whether this request's body must be read (and parsed) before it is routed: false for the
   * policies that never look at it, whose bodies are passed on as they arrive. Always by default.
   */
  readsBody?: () => boolean
}

/**
 * JSON bodies are passed on as they came, as Envoy and nginx do. A body the router must read
 * to route (the prompt, the session) is read as bytes and parsed; a body that is not JSON is
 * then refused here with the model server's 400. Otherwise a body with a `content-length` is
 * streamed through unread, and the backend judges it (a chunked one, without a length to check
 * against the limit first, is read). Either way the backend gets exactly what the client sent,
 * however deep or wide, and a body under the router's limit stays under the backend's.
 */
export function keepRawJsonBodies(app: FastifyInstance, { readsBody = () => true }: RawBodyOptions = {}): void {
  app.removeContentTypeParser('application/json')
  const parseBuffer = (request: FastifyRequest, raw: Buffer, done: (error: Error | null, body?: unknown) => void) => {
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
  }
  app.addContentTypeParser('application/json', (request, payload: IncomingMessage, done) => {
    const declared = request.headers['content-length']
    const length = declared === undefined ? Number.NaN : Number(declared)
    const { bodyLimit } = request.routeOptions
    if (length > bodyLimit) {
      void discardRest(payload, bodyLimit * LINGER_FACTOR).then(() =>
        done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), undefined),
      )
      return
    }
    if (!readsBody() && Number.isSafeInteger(length)) {
      rawBodies.set(request, new ForwardedBody(payload, length))
      done(null, undefined)
      return
    }
    readWhole(payload, bodyLimit, length).then(
      (raw) => parseBuffer(request, raw, done),
      (error: Error) => done(error, undefined),
    )
  })
}

/**
 * How much of a body past the limit is read and dropped before the 413 goes out. fastify closes
 * the connection after a refused body; a client still sending then gets a reset (EPIPE) instead
 * of the answer, as seen with a 2 MiB body on loopback. Reading the rest first, as nginx's
 * lingering close does, lets it read the 413; past this many times the limit, the connection is
 * cut without waiting. The server's request timeout bounds a body sent slowly.
 */
const LINGER_FACTOR = 4

/** Reads and drops what is left of a body, until its end or until `upTo` bytes have come. */
function discardRest(payload: IncomingMessage, upTo: number, received = 0): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      payload.off('data', onData)
      resolve()
    }
    const onData = (chunk: Buffer) => {
      received += chunk.length
      if (received > upTo) stop()
    }
    payload.on('data', onData)
    payload.once('end', stop)
    payload.once('error', stop)
    payload.once('close', stop)
  })
}

/** The whole body as bytes, refused as fastify's own parser does: 413 past the limit, 400 short of its length. */
function readWhole(payload: IncomingMessage, bodyLimit: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let received = 0
    const onData = (chunk: Buffer) => {
      received += chunk.length
      if (received > bodyLimit) {
        payload.off('data', onData)
        payload.off('end', onEnd)
        void discardRest(payload, bodyLimit * LINGER_FACTOR, received).then(() =>
          reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE()),
        )
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      if (!Number.isNaN(length) && received !== length) reject(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH())
      else resolve(Buffer.concat(chunks, received))
    }
    payload.on('data', onData)
    payload.once('end', onEnd)
    payload.once('error', reject)
  })
}

/** The body as the client sent it, whole or passed on as it arrives; undefined when it sent none. */
export function rawBodyOf(request: FastifyRequest): Buffer | ForwardedBody | undefined {
  return rawBodies.get(request)
}
