/**
 * What the model reads of a request, computed the same way wherever it is needed: by the model
 * server, and by a frontend in front of it that routes by the blocks a server has cached. Both
 * must agree token for token, or their block hashes would never match.
 */

/**
 * The simulator's tokenizer. There is no real one: every run of letters or digits, and every
 * other non-space character, is one token. Real BPE tokenizers split long words further, so real
 * counts run a little higher; the simulator only needs tokens that grow with the text, agree with
 * the text it generates, and repeat for repeated text (the prefix cache compares them).
 */
export function tokenize(text: string): string[] {
  return text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []
}

/** A chat message's content as OpenAI's API allows it: text, text parts, or nothing. */
export type MessageContent = string | { type: 'text'; text: string }[] | null

export interface ChatMessage {
  role: string
  content?: MessageContent
}

/** The text of a message's content: its text parts joined, empty for none. */
export function messageText(content: MessageContent | undefined): string {
  if (content === null || content === undefined) return ''
  return typeof content === 'string' ? content : content.map((part) => part.text).join('')
}

/**
 * The simulator's chat template: one `role: content` line per message, then `assistant:` for
 * the answer to follow. A real model's template adds special tokens, but the effect that
 * matters is the same: the prompt grows with the conversation, and each turn's prompt begins
 * with the previous one, so the prefix cache serves the earlier turns.
 */
export function renderChat(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `${m.role}: ${messageText(m.content)}\n`).join('') + 'assistant:'
}

/** A completion's prompts: one, or a list, each run as a sequence of its own (as vLLM does). */
export function completionPrompts(prompt: string | readonly string[]): string[] {
  return typeof prompt === 'string' ? [prompt] : [...prompt]
}

/**
 * The prompt text of each sequence a request body asks for, as the model server reads it:
 * `/v1/completions` one per prompt (a list of prompts is that many sequences, so that many
 * texts, in order), `/v1/chat/completions` one, the rendered conversation. null for another path
 * or a body without a prompt of the right shape: the server refuses those with a 400, and a
 * router can only send them on. Never throws.
 */
export function requestPrompts(path: string, body: unknown): string[] | null {
  if (typeof body !== 'object' || body === null) return null
  const { prompt, messages } = body as { prompt?: unknown; messages?: unknown }
  if (path === '/v1/completions') {
    if (typeof prompt === 'string') return [prompt]
    if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'string')) return [...prompt]
    return null
  }
  if (path === '/v1/chat/completions') {
    if (!Array.isArray(messages) || messages.length === 0 || !messages.every(isChatMessage)) return null
    return [renderChat(messages)]
  }
  return null
}

/** The prompt tokens of each sequence a request body asks for: `requestPrompts`, tokenized. */
export function requestPromptTokens(path: string, body: unknown): string[][] | null {
  return requestPrompts(path, body)?.map(tokenize) ?? null
}

function isChatMessage(message: unknown): message is ChatMessage {
  if (typeof message !== 'object' || message === null) return false
  const { role, content } = message as { role?: unknown; content?: unknown }
  if (typeof role !== 'string') return false
  if (content === undefined || content === null || typeof content === 'string') return true
  return (
    Array.isArray(content) &&
    content.every(
      (part: { type?: unknown; text?: unknown } | null) => part?.type === 'text' && typeof part.text === 'string',
    )
  )
}
