import type { IncomingHttpHeaders } from 'node:http'
import { HttpError } from '../shared/errors.ts'

/** A request's priority class as a header; it wins over the body's `priority`, as Dynamo's header does. */
export const priorityHeader = 'x-serving-lab-priority'
/** Milliseconds the request may take from arrival, queue and answer included. */
export const deadlineHeader = 'x-serving-lab-deadline-ms'

const headerValue = (headers: IncomingHttpHeaders, name: string) => {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * The request's priority class: the header when sent, else the body's `priority` (vLLM's field:
 * an integer, lower runs earlier, 0 when absent). Outside 0 .. classes − 1 it is a 400 naming
 * the field, as vLLM refuses a priority its scheduler does not take.
 */
export function priorityOf(headers: IncomingHttpHeaders, body: unknown, classes: number): number {
  const fromHeader = headerValue(headers, priorityHeader)
  const range = `an integer from 0 to ${classes - 1} (lower is served first)`
  if (fromHeader !== undefined) {
    const value = /^\s*\d+\s*$/.test(fromHeader) ? Number(fromHeader) : NaN
    if (!(value >= 0 && value < classes))
      throw new HttpError(
        400,
        'invalid_request_error',
        `${priorityHeader} must be ${range}, got "${fromHeader}"`,
        'priority',
      )
    return value
  }
  const fields =
    typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {}
  const value = fields.priority
  if (value === undefined || value === null) return 0
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= classes)
    throw new HttpError(
      400,
      'invalid_request_error',
      `priority must be ${range}, got ${JSON.stringify(value)}`,
      'priority',
    )
  return value
}

/** The request's deadline in milliseconds from its arrival: the header, else the default. */
export function deadlineOf(headers: IncomingHttpHeaders, defaultMs: number, maxMs: number): number {
  const raw = headerValue(headers, deadlineHeader)
  if (raw === undefined) return defaultMs
  const value = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN
  if (!(value >= 1 && value <= maxMs))
    throw new HttpError(
      400,
      'invalid_request_error',
      `${deadlineHeader} must be an integer from 1 to ${maxMs} (milliseconds), got "${raw}"`,
      deadlineHeader,
    )
  return value
}

/**
 * The `model` label of the request's metrics: the body's model when a backend serves it, else
 * "unknown", so a client cannot grow the metrics without bound by inventing names.
 */
export function modelLabel(body: unknown, served: ReadonlySet<string>): string {
  const model = typeof body === 'object' && body !== null ? (body as { model?: unknown }).model : undefined
  return typeof model === 'string' && served.has(model) ? model : 'unknown'
}
