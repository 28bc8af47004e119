import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyRequest } from 'fastify'
import { HttpError } from '../shared/errors.ts'
import type { ModelServerConfig } from './config.ts'
import type { ModelServerMetrics } from './metrics.ts'
import { countTokens, generateText } from './text.ts'

/** The fields of OpenAI's completions request the simulator reads; all others are accepted and ignored. */
export interface CompletionRequest {
  model?: string
  prompt: string | string[]
  max_tokens?: number | null
  stream?: boolean
}

export const completionRequestSchema = {
  type: 'object',
  required: ['prompt'],
  properties: {
    model: { type: 'string' },
    prompt: {
      anyOf: [
        { type: 'string' },
        { type: 'array', items: { type: 'string' }, minItems: 1 },
      ],
    },
    max_tokens: { type: ['integer', 'null'], minimum: 1 },
    stream: { type: 'boolean' },
    temperature: { type: ['number', 'null'] },
    top_p: { type: ['number', 'null'] },
  },
} as const

/**
 * `POST /v1/completions`, not streaming: every prompt gets `max_tokens` generated tokens after
 * the time to first token plus one inter-token latency per token (the prompts of one request
 * decode together, as one batch). Each prompt counts as one request in the metrics, as in vLLM.
 */
export function createCompletionHandler(config: ModelServerConfig, metrics: ModelServerMetrics) {
  return async (request: FastifyRequest<{ Body: CompletionRequest }>) => {
    const started = performance.now()
    const body = request.body
    const model = body.model ?? config.servedModelName
    if (model !== config.servedModelName) {
      throw new HttpError(404, 'NotFoundError', `The model \`${model}\` does not exist.`, 'model', 'model_not_found')
    }
    if (body.stream) {
      throw new HttpError(400, 'invalid_request_error', 'Streaming is not supported by this simulator yet.', 'stream')
    }
    const prompts = typeof body.prompt === 'string' ? [body.prompt] : body.prompt
    const maxTokens = body.max_tokens ?? config.maxTokensDefault
    const promptTokens = prompts.map(countTokens)
    const longestPrompt = Math.max(...promptTokens)
    if (longestPrompt + maxTokens > config.maxModelLen) {
      throw new HttpError(
        400,
        'invalid_request_error',
        `This model's maximum context length is ${config.maxModelLen} tokens. However, you requested ` +
          `${longestPrompt + maxTokens} tokens (${longestPrompt} in the messages, ${maxTokens} in the completion). ` +
          'Please reduce the length of the messages or completion.',
        'max_tokens',
      )
    }

    metrics.running.inc(prompts.length)
    try {
      await delay(config.timeToFirstTokenMs + config.interTokenLatencyMs * maxTokens)
    } finally {
      metrics.running.dec(prompts.length)
    }

    const choices = prompts.map((prompt, index) => ({
      index,
      text: generateText(prompt, maxTokens, config.seed),
      logprobs: null,
      finish_reason: 'length' as const,
    }))
    const promptTokenCount = promptTokens.reduce((sum, n) => sum + n, 0)
    const completionTokenCount = maxTokens * prompts.length
    const usage = {
      prompt_tokens: promptTokenCount,
      completion_tokens: completionTokenCount,
      total_tokens: promptTokenCount + completionTokenCount,
    }

    const seconds = (performance.now() - started) / 1000
    metrics.promptTokens.inc(promptTokenCount)
    metrics.generationTokens.inc(completionTokenCount)
    metrics.requestSuccess('length').inc(prompts.length)
    for (let i = 0; i < prompts.length; i++) metrics.e2eLatency.observe(seconds)

    return {
      id: `cmpl-${randomUUID().replaceAll('-', '')}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices,
      usage,
    }
  }
}
