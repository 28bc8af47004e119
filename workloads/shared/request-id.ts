import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/** The header that carries one request's id from the frontend to the router to the model server, and back. */
export const REQUEST_ID_HEADER = 'x-request-id'

/**
 * What a client's id may look like to be kept: a UUID, a trace id, `chat-42`; at most 128
 * characters of letters, digits and `._:-`, so a log line cannot be forged or flooded with it.
 */
const saneRequestId = /^[A-Za-z0-9._:-]{1,128}$/

/** The request's id: the one its client sent if that is sane, else a new UUID. */
export function requestIdOf(request: Pick<IncomingMessage, 'headers'>): string {
  const sent = request.headers[REQUEST_ID_HEADER]
  return typeof sent === 'string' && saneRequestId.test(sent) ? sent : randomUUID()
}
