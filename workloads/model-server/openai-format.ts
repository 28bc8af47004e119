import { randomUUID } from 'node:crypto'

export type FinishReason = 'stop' | 'length'

/** How one endpoint shapes its answers: completions and chat completions differ only here. */
export interface ApiFormat {
  idPrefix: string
  object: string
  chunkObject: string
  /** Whether the answer continues the prompt's text (a leading space) or starts afresh. */
  leadingSpace: boolean
  choice(index: number, text: string, finishReason: FinishReason): object
  chunkChoice(index: number, text: string, finishReason: FinishReason | null): object
  /** The choice of a chunk sent before any token, if the format has one. */
  openingChoice: ((index: number) => object) | null
}

export const completionFormat: ApiFormat = {
  idPrefix: 'cmpl-',
  object: 'text_completion',
  chunkObject: 'text_completion',
  leadingSpace: true,
  choice: (index, text, finishReason) => ({ index, text, logprobs: null, finish_reason: finishReason }),
  chunkChoice: (index, text, finishReason) => ({ index, text, logprobs: null, finish_reason: finishReason }),
  openingChoice: null,
}

export const chatFormat: ApiFormat = {
  idPrefix: 'chatcmpl-',
  object: 'chat.completion',
  chunkObject: 'chat.completion.chunk',
  leadingSpace: false,
  choice: (index, text, finishReason) => ({
    index,
    message: { role: 'assistant', content: text },
    logprobs: null,
    finish_reason: finishReason,
  }),
  chunkChoice: (index, text, finishReason) => ({
    index,
    delta: { content: text },
    logprobs: null,
    finish_reason: finishReason,
  }),
  // As vLLM and OpenAI do: the first chunk names the role, with empty content.
  openingChoice: (index) => ({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }),
}

export interface ResponseHeader {
  id: string
  created: number
  model: string
}

/** The identity every answer and chunk of one response shares. */
export function responseHeader(format: ApiFormat, model: string): ResponseHeader {
  return { id: format.idPrefix + randomUUID().replaceAll('-', ''), created: Math.floor(Date.now() / 1000), model }
}

/** The start of an answer or chunk, in the order OpenAI writes the fields. */
export function envelope(header: ResponseHeader, object: string) {
  return { id: header.id, object, created: header.created, model: header.model }
}

export function usage(promptTokens: number, completionTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  }
}
