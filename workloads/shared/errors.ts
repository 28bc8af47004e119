/**
 * Every workload answers errors in OpenAI's shape, so clients written for OpenAI or vLLM can
 * read them: `{ "error": { "message", "type", "param", "code" } }`.
 */
export interface OpenAIErrorBody {
  error: {
    message: string
    type: string
    param: string | null
    code: string | null
  }
}

/** What a route handler throws to answer with a given status and OpenAI error body. */
export class HttpError extends Error {
  override name = 'HttpError'
  constructor(
    readonly statusCode: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message)
  }
}

interface ValidationIssue {
  instancePath?: string
  params?: { missingProperty?: string }
}

/**
 * Turns anything thrown while handling a request into a status and an OpenAI error body.
 * Client mistakes fastify detects (malformed JSON 400, body too large 413, wrong media type
 * 415, schema validation 400) keep fastify's status and message; anything unknown is a 500
 * whose details stay in the log, not in the answer.
 */
export function toOpenAIError(error: unknown): { statusCode: number; body: OpenAIErrorBody } {
  if (error instanceof HttpError) {
    return reply(error.statusCode, error.type, error.message, error.param, error.code)
  }
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const validation = (error as { validation?: ValidationIssue[] }).validation
    const param = validation ? validationParam(validation[0]) : null
    return reply(statusCode, 'invalid_request_error', (error as Error).message, param, null)
  }
  return reply(500, 'server_error', 'The server had an error while processing your request.', null, null)
}

/** The body field a schema violation is about: `/max_tokens` → `max_tokens`. */
function validationParam(issue: ValidationIssue | undefined): string | null {
  if (!issue) return null
  const path = (issue.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.')
  const missing = issue.params?.missingProperty
  if (missing) return path ? `${path}.${missing}` : missing
  return path || null
}

function reply(statusCode: number, type: string, message: string, param: string | null, code: string | null) {
  return { statusCode, body: { error: { message, type, param, code } } }
}
