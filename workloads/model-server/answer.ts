import { HttpError } from '../shared/errors.ts'
import type { OutputMode } from './config.ts'
import type { SequenceSpec } from './engine.ts'
import { hashString, seededRandom } from './random.ts'
import { tokenize } from '../shared/prompt.ts'
import { randomTokens } from './text.ts'

export interface AnswerSettings {
  mode: OutputMode
  seed: number
  maxTokensDefault: number
  maxModelLen: number
}

export interface Prompt {
  /** The text the model reads (for chat, the messages rendered by the chat template). */
  text: string
  /** What echo mode repeats: the prompt, or the last user message. */
  echo: string
}

/**
 * Decides a sequence's answer before it runs. echo repeats `prompt.echo`, stopping at
 * `max_tokens` (finish "length") or at its end (finish "stop"). random draws words from a
 * generator seeded by `--seed` and the prompt, so the same request gets the same answer: exactly
 * `max_tokens` of them when the request sets it ("length"), else a random length up to the
 * default, as if the model chose to stop ("stop").
 */
export function planAnswer(prompt: Prompt, maxTokens: number | null, settings: AnswerSettings): SequenceSpec {
  const promptTokens = tokenize(prompt.text)
  if (promptTokens.length === 0) throw new HttpError(400, 'BadRequestError', 'The prompt cannot be empty.', 'prompt')
  const room = settings.maxModelLen - promptTokens.length
  if ((maxTokens ?? 1) > room) {
    const requested = promptTokens.length + (maxTokens ?? 1)
    throw new HttpError(
      400,
      'BadRequestError',
      `This model's maximum context length is ${settings.maxModelLen} tokens. However, you requested ` +
        `${requested} tokens (${promptTokens.length} in the messages, ${maxTokens ?? 1} in the completion). ` +
        'Please reduce the length of the messages or completion.',
      maxTokens === null ? 'prompt' : 'max_tokens',
      'context_length_exceeded',
    )
  }
  const limit = maxTokens ?? room
  if (settings.mode === 'echo') {
    const echoed = tokenize(prompt.echo)
    const tokens = echoed.length > 0 ? echoed : promptTokens
    return tokens.length > limit
      ? { prompt: promptTokens, output: tokens.slice(0, limit), finishReason: 'length' }
      : { prompt: promptTokens, output: tokens, finishReason: 'stop' }
  }
  const random = seededRandom(settings.seed ^ hashString(prompt.text))
  if (maxTokens !== null)
    return { prompt: promptTokens, output: randomTokens(maxTokens, random), finishReason: 'length' }
  const length = 1 + Math.floor(random() * Math.min(settings.maxTokensDefault, room))
  return { prompt: promptTokens, output: randomTokens(length, random), finishReason: 'stop' }
}
