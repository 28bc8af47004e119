import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpError, toOpenAIError } from '../shared/errors.ts'
import { planAnswer } from './answer.ts'
import type { AnswerSettings, Prompt } from './answer.ts'
import type { Engine, Sequence, SequenceSpec } from './engine.ts'
import { failureDelayMs, failureError } from './failures.ts'
import type { FailureInjector } from './failures.ts'
import { GroupBrokenError } from './group/group.ts'
import type { SchedulingPolicy } from './scheduler.ts'
import type { Group } from './group/group.ts'
import { envelope, responseHeader, usage } from './openai-format.ts'
import type { ApiFormat, FinishReason, ResponseHeader } from './openai-format.ts'
import { tokenText } from './text.ts'

/** What the completions and chat endpoints ask of the engine, once their bodies are read. */
export interface GenerationCall {
  model: string
  prompts: Prompt[]
  maxTokens: number | null
  /** The request's `priority`: its place in the waiting queue under the priority policy. */
  priority: number
  stream: boolean
  includeUsage: boolean
}

export interface GenerationParts {
  servedModelName: string
  schedulingPolicy: SchedulingPolicy
  answers: AnswerSettings
  engine: Engine
  group: Group
  failures: FailureInjector
}

/**
 * The path every generation request takes: the model must exist, the answer must fit the
 * context, the group must be ready, an injected failure may strike, and the waiting queue must
 * have room; then the sequences run, answered whole or streamed as server-sent events.
 */
export async function generate(
  parts: GenerationParts,
  format: ApiFormat,
  call: GenerationCall,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (call.model !== parts.servedModelName) {
    throw new HttpError(404, 'NotFoundError', `The model \`${call.model}\` does not exist.`, 'model', 'model_not_found')
  }
  if (call.priority !== 0 && parts.schedulingPolicy !== 'priority') {
    // vLLM's answer, word for word, so a client that drops the field on this message works here too.
    throw new HttpError(
      400,
      'BadRequestError',
      `Got priority ${call.priority} but Priority scheduling is not enabled.`,
      'priority',
    )
  }
  const specs = call.prompts.map((prompt) => planAnswer(prompt, call.maxTokens, parts.answers))
  if (!parts.engine.couldEverTake(specs)) {
    throw new HttpError(
      400,
      'BadRequestError',
      `This request's ${specs.length} sequences can never fit: more than the server runs at once (max-num-seqs) plus its waiting queue (max-waiting-requests). Send fewer prompts per request.`,
      'prompt',
      'too_many_sequences',
    )
  }
  if (request.server.draining) throw unavailable('The server is shutting down.', 'draining')
  if (!parts.group.ready) throw unavailable(`The model's group is not ready: ${parts.group.reason}.`, 'group_not_ready')

  // Aborted when the client goes away before the answer is complete, or when one sequence fails.
  const controller = new AbortController()
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the client closed the connection'))
  })

  const failure = parts.failures.pick()
  if (failure) {
    await sleep(failureDelayMs(failure), undefined, { signal: controller.signal }).catch(() => {
      throw clientClosed()
    })
    throw failureError(failure, call.model)
  }

  const sequences = parts.engine.submit(specs, call.priority)
  if (!sequences) {
    throw new HttpError(429, 'RateLimitError', 'The waiting queue is full; retry later.', null, 'rate_limit_exceeded')
  }
  const header = responseHeader(format, call.model)
  const promptTokens = specs.reduce((sum, spec) => sum + spec.prompt.length, 0)
  if (call.stream)
    return streamAnswer({ format, header, sequences, promptTokens, includeUsage: call.includeUsage, controller }, reply)
  return wholeAnswer({ format, header, sequences, specs, promptTokens, controller })
}

interface Whole {
  format: ApiFormat
  header: ResponseHeader
  sequences: Sequence[]
  specs: SequenceSpec[]
  promptTokens: number
  controller: AbortController
}

async function wholeAnswer({ format, header, sequences, specs, promptTokens, controller }: Whole) {
  const texts = sequences.map(() => '')
  try {
    await Promise.all(
      sequences.map((sequence, i) =>
        sequence.run(controller.signal, (token) => {
          texts[i] += tokenText(token, texts[i] === '' && !format.leadingSpace)
        }),
      ),
    )
  } catch (error) {
    if (controller.signal.aborted) throw clientClosed()
    controller.abort(error)
    throw toHttpError(error)
  }
  const completionTokens = specs.reduce((sum, spec) => sum + spec.output.length, 0)
  return {
    ...envelope(header, format.object),
    choices: specs.map((spec, i) => format.choice(i, texts[i]!, spec.finishReason)),
    usage: usage(promptTokens, completionTokens),
  }
}

interface Stream {
  format: ApiFormat
  header: ResponseHeader
  sequences: Sequence[]
  promptTokens: number
  includeUsage: boolean
  controller: AbortController
}

/**
 * Server-sent events as vLLM sends them: `data: {chunk}` per token, a usage chunk with no
 * choices when asked for, then `data: [DONE]`. The status (200) is sent before the first token,
 * so a failure after that arrives as an error event in the stream.
 */
function streamAnswer(
  { format, header, sequences, promptTokens, includeUsage, controller }: Stream,
  reply: FastifyReply,
) {
  const events = new PassThrough()
  const send = (data: unknown) => {
    if (!events.destroyed && !events.writableEnded) events.write(`data: ${JSON.stringify(data)}\n\n`)
  }
  const chunk = (choices: object[]) => send({ ...envelope(header, format.chunkObject), choices })
  let completionTokens = 0

  void (async () => {
    try {
      if (format.openingChoice) sequences.forEach((_, i) => chunk([format.openingChoice!(i)]))
      const started = sequences.map(() => false)
      await Promise.all(
        sequences.map((sequence, i) =>
          sequence.run(controller.signal, (token, finishReason: FinishReason | null) => {
            completionTokens++
            chunk([format.chunkChoice(i, tokenText(token, !started[i] && !format.leadingSpace), finishReason)])
            started[i] = true
          }),
        ),
      )
      if (includeUsage)
        send({ ...envelope(header, format.chunkObject), choices: [], usage: usage(promptTokens, completionTokens) })
    } catch (error) {
      const clientGone = controller.signal.aborted
      controller.abort(error)
      if (!clientGone) send(toOpenAIError(toHttpError(error)).body)
    } finally {
      if (!events.destroyed) events.end('data: [DONE]\n\n')
    }
  })()

  return reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .send(events)
}

/** Nobody will read it, but the log says what happened (nginx's 499 for the same). */
function clientClosed(): HttpError {
  return new HttpError(499, 'ClientClosedRequest', 'The client closed the connection before the answer was complete.')
}

function unavailable(message: string, code: string): HttpError {
  return new HttpError(503, 'ServiceUnavailableError', message, null, code)
}

/** A sequence's failure as the answer to give: the group breaking is a 503, anything else stays as thrown. */
function toHttpError(error: unknown): unknown {
  if (error instanceof GroupBrokenError)
    return unavailable(`The model's group broke during the request: ${error.message}.`, 'group_broken')
  return error
}
