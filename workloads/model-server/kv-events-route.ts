import { PassThrough } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpError } from '../shared/errors.ts'
import type { KvEventPublisher, KvEventSubscriber } from './kv-events.ts'

/**
 * `GET /kv-events`: the KV cache's events as server-sent events, a snapshot first, for as long
 * as the client stays. 503 while draining or when the subscribers are as many as allowed.
 */
export function createKvEventsHandler(publisher: KvEventPublisher, maxSubscribers: number) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.server.draining) {
      throw new HttpError(503, 'ServiceUnavailableError', 'The server is shutting down.', null, 'draining')
    }
    const stream = new PassThrough()
    const subscriber: KvEventSubscriber = {
      write: (text) => stream.write(text),
      // What waits in the stream, then in the response and its socket.
      bufferedBytes: () => stream.writableLength + stream.readableLength + reply.raw.writableLength,
      end: () => stream.end(),
      drop: () => {
        request.log.warn('KV event subscriber too slow: disconnected')
        reply.raw.destroy()
        stream.destroy()
      },
    }
    if (!publisher.subscribe(subscriber)) {
      throw new HttpError(
        503,
        'ServiceUnavailableError',
        `KV events already have ${maxSubscribers} subscribers (--kv-events-max-subscribers); retry later.`,
        null,
        'too_many_subscribers',
      )
    }
    reply.raw.on('close', () => publisher.unsubscribe(subscriber))
    return reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(stream)
  }
}
