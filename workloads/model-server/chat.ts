import type { FastifyReply, FastifyRequest } from 'fastify'
import { messageText, renderChat } from '../shared/prompt.ts'
import type { ChatMessage } from '../shared/prompt.ts'
import { streamingProperties, streamSettings } from './completions.ts'
import { generate } from './generate.ts'
import type { GenerationParts } from './generate.ts'
import { chatFormat } from './openai-format.ts'

/** The fields of OpenAI's chat completions request the simulator reads; all others are accepted and ignored. */
export interface ChatCompletionRequest {
  model?: string
  messages: ChatMessage[]
  max_tokens?: number | null
  max_completion_tokens?: number | null
  stream?: boolean | null
  stream_options?: { include_usage?: boolean | null } | null
  priority?: number
}

export const chatCompletionRequestSchema = {
  type: 'object',
  required: ['messages'],
  properties: {
    model: { type: 'string' },
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
          content: {
            anyOf: [
              { type: 'string' },
              { type: 'null' },
              {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['type', 'text'],
                  properties: { type: { const: 'text' }, text: { type: 'string' } },
                },
              },
            ],
          },
        },
      },
    },
    max_tokens: { type: ['integer', 'null'], minimum: 1 },
    max_completion_tokens: { type: ['integer', 'null'], minimum: 1 },
    ...streamingProperties,
  },
} as const

/** `POST /v1/chat/completions`: echo mode repeats the last user message. */
export function createChatCompletionHandler(parts: GenerationParts) {
  return async (request: FastifyRequest<{ Body: ChatCompletionRequest }>, reply: FastifyReply) => {
    const body = request.body
    const lastUser = body.messages.findLast((m) => m.role === 'user')
    return generate(
      parts,
      chatFormat,
      {
        model: body.model ?? parts.servedModelName,
        prompts: [{ text: renderChat(body.messages), echo: messageText(lastUser?.content) }],
        maxTokens: body.max_completion_tokens ?? body.max_tokens ?? null,
        priority: body.priority ?? 0,
        ...streamSettings(body),
      },
      request,
      reply,
    )
  }
}
