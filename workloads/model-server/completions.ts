import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpError } from '../shared/errors.ts'
import { completionPrompts } from '../shared/prompt.ts'
import { generate } from './generate.ts'
import type { GenerationParts } from './generate.ts'
import { completionFormat } from './openai-format.ts'

/** The fields of OpenAI's completions request the simulator reads; all others are accepted and ignored. */
export interface CompletionRequest {
  model?: string
  prompt: string | string[]
  max_tokens?: number | null
  stream?: boolean | null
  stream_options?: { include_usage?: boolean | null } | null
  n?: number | null
  priority?: number
}

/** Fields that choose how an answer is sent, common to completions and chat completions. */
export const streamingProperties = {
  stream: { type: ['boolean', 'null'] },
  stream_options: {
    type: ['object', 'null'],
    properties: { include_usage: { type: ['boolean', 'null'] }, continuous_usage_stats: { type: ['boolean', 'null'] } },
  },
  // One choice per prompt: more would need sampling several answers at once.
  n: { type: ['integer', 'null'], minimum: 1, maximum: 1 },
  // vLLM's ranges (SamplingParams): out of them, vLLM and OpenAI answer 400.
  temperature: { type: ['number', 'null'], minimum: 0 },
  top_p: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1 },
  top_k: { type: ['integer', 'null'], minimum: -1 },
  min_p: { type: ['number', 'null'], minimum: 0, maximum: 1 },
  presence_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2 },
  frequency_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2 },
  repetition_penalty: { type: ['number', 'null'], exclusiveMinimum: 0 },
  seed: { type: ['integer', 'null'] },
  // vLLM's extension: the request's place in the waiting queue under --scheduling-policy priority.
  priority: { type: 'integer' },
} as const

export const completionRequestSchema = {
  type: 'object',
  required: ['prompt'],
  properties: {
    model: { type: 'string' },
    prompt: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
    },
    max_tokens: { type: ['integer', 'null'], minimum: 1 },
    ...streamingProperties,
  },
} as const

/** `stream_options` only means something for a stream; vLLM refuses it otherwise, with this message. */
export function streamSettings(body: {
  stream?: boolean | null
  stream_options?: { include_usage?: boolean | null } | null
}) {
  const stream = body.stream === true
  if (!stream && body.stream_options) {
    throw new HttpError(
      400,
      'BadRequestError',
      'Stream options can only be defined when `stream=True`.',
      'stream_options',
    )
  }
  return { stream, includeUsage: body.stream_options?.include_usage === true }
}

/**
 * `POST /v1/completions`: each prompt of the list is a sequence of its own, and counts as one
 * request in the metrics, as in vLLM.
 */
export function createCompletionHandler(parts: GenerationParts) {
  return async (request: FastifyRequest<{ Body: CompletionRequest }>, reply: FastifyReply) => {
    const body = request.body
    return generate(
      parts,
      completionFormat,
      {
        model: body.model ?? parts.servedModelName,
        prompts: completionPrompts(body.prompt).map((text) => ({ text, echo: text })),
        maxTokens: body.max_tokens ?? null,
        priority: body.priority ?? 0,
        ...streamSettings(body),
      },
      request,
      reply,
    )
  }
}
