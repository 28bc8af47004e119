import { Transform } from 'node:stream'

export interface TokenTimes {
  /** When the first token arrived; null when none did. */
  firstTokenAt: number | null
  /** Gaps between consecutive tokens, in milliseconds. */
  gapsMs: number[]
  /** Tokens generated: the answer's usage when it gives one, else the tokens counted. */
  outputTokens: number
  /** The stream ended with an error event; its `code` (null when it had none). */
  errorCode: string | null | undefined
}

interface Chunk {
  choices?: { text?: unknown; delta?: { content?: unknown } }[]
  usage?: { completion_tokens?: unknown } | null
  error?: { code?: unknown }
}

/**
 * Watches an answer go by to time its tokens, as Dynamo's frontend does for its time to first
 * token and inter-token latency: a stream's events (one per token from vLLM and the model
 * server; a role-only first chunk and the usage chunk carry none) are read as they pass,
 * without holding them back; a whole answer's tokens all arrive with it.
 */
export class TokenMeter {
  readonly times: TokenTimes = { firstTokenAt: null, gapsMs: [], outputTokens: 0, errorCode: undefined }
  readonly #now: () => number
  #lastTokenAt = 0
  #counted = 0
  #usage: number | null = null
  #buffer = ''

  constructor(now: () => number = performance.now.bind(performance)) {
    this.#now = now
  }

  /** A pass-through stream that reads each server-sent event on its way to the client. */
  watch(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.#read(chunk.toString('utf8'))
        callback(null, chunk)
      },
    })
  }

  /** A whole answer's body. */
  whole(body: Buffer): void {
    const at = this.#now()
    try {
      const parsed = JSON.parse(body.toString('utf8')) as Chunk
      const usage = parsed.usage?.completion_tokens
      if (typeof usage === 'number' && usage > 0) {
        this.times.firstTokenAt = at
        this.times.outputTokens = usage
      }
    } catch {
      // Not JSON: nothing to time.
    }
  }

  #read(text: string): void {
    this.#buffer += text
    let end: number
    while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
      const event = this.#buffer.slice(0, end)
      this.#buffer = this.#buffer.slice(end + 2)
      for (const line of event.split('\n')) if (line.startsWith('data:')) this.#event(line.slice(5).trim())
    }
  }

  #event(data: string): void {
    if (data === '[DONE]') return
    let chunk: Chunk
    try {
      chunk = JSON.parse(data) as Chunk
    } catch {
      return
    }
    if (chunk.error) {
      this.times.errorCode = typeof chunk.error.code === 'string' ? chunk.error.code : null
      return
    }
    const usage = chunk.usage?.completion_tokens
    if (typeof usage === 'number') this.#usage = usage
    const hasToken = chunk.choices?.some((c) => nonEmpty(c.text) || nonEmpty(c.delta?.content))
    if (hasToken) {
      const at = this.#now()
      if (this.times.firstTokenAt === null) this.times.firstTokenAt = at
      else this.times.gapsMs.push(at - this.#lastTokenAt)
      this.#lastTokenAt = at
      this.#counted++
    }
    this.times.outputTokens = this.#usage ?? this.#counted
  }
}

const nonEmpty = (value: unknown) => typeof value === 'string' && value !== ''
