import type { IncomingHttpHeaders } from 'node:http'
import type { RouteRequest } from './policies/policy.ts'

interface ChatMessage {
  role?: unknown
  content?: unknown
}

/**
 * What the policies read of a request: the session (the affinity header, else the body's
 * `user`, OpenAI's field for the end user) and the prompt as text. Never throws: a body of the
 * wrong shape is the backend's to refuse.
 */
export function routeRequest(headers: IncomingHttpHeaders, body: unknown, affinityHeader: string): RouteRequest {
  const fields =
    typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {}
  const header = headers[affinityHeader]
  const fromHeader = Array.isArray(header) ? header[0] : header
  const sessionKey = fromHeader || (typeof fields.user === 'string' && fields.user !== '' ? fields.user : null)
  return { sessionKey: sessionKey ?? null, prompt: promptText(fields) }
}

/** Completions: the prompt (a list joined by newlines); chat: each message as `role: content`, in order. */
function promptText(fields: Record<string, unknown>): string | null {
  const { prompt, messages } = fields
  if (typeof prompt === 'string') return prompt
  if (Array.isArray(prompt) && prompt.every((p) => typeof p === 'string')) return prompt.join('\n')
  if (Array.isArray(messages))
    return messages.map((m: ChatMessage) => `${String(m?.role)}: ${contentText(m?.content)}`).join('\n')
  return null
}

/** A message's content: a string, or the text of its text parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .map((part: { type?: unknown; text?: unknown }) =>
      part?.type === 'text' && typeof part.text === 'string' ? part.text : '',
    )
    .join('')
}
