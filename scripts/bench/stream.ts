import { request, type Agent } from 'node:http'

/** What the client saw of one streamed answer. */
export interface Streamed {
  /**
   * Milliseconds from sending to the first server-sent event that carries generated text (a chat
   * stream opens with an empty `role` delta before prefill, which is not a token).
   */
  firstTokenMs: number
  /** The text generated, joined from the events' deltas. */
  text: string
  /** Tokens generated, from the final usage event (0 without `stream_options.include_usage`). */
  completionTokens: number
}

interface Chunk {
  choices?: { text?: string; delta?: { content?: string | null } }[]
  usage?: { completion_tokens?: number } | null
}

/** POSTs `body` to `base + path` and reads the server-sent events to the end; rejects unless answered 200 with text. */
export function streamed(base: string, path: string, agent: Agent, body: object): Promise<Streamed> {
  const sent = performance.now()
  return new Promise((resolve, reject) => {
    const outgoing = request(`${base}${path}`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json' },
    })
    outgoing.on('response', (response) => {
      const answer = { firstTokenMs: Number.NaN, text: '', completionTokens: 0 }
      let pending = ''
      const readEvent = (line: string) => {
        if (!line.startsWith('data: {')) return
        const chunk = JSON.parse(line.slice('data: '.length)) as Chunk
        const text = (chunk.choices ?? []).map((c) => c.text ?? c.delta?.content ?? '').join('')
        if (text !== '' && Number.isNaN(answer.firstTokenMs)) answer.firstTokenMs = performance.now() - sent
        answer.text += text
        answer.completionTokens = chunk.usage?.completion_tokens ?? answer.completionTokens
      }
      response.setEncoding('utf8')
      response.on('data', (data: string) => {
        const lines = (pending + data).split('\n')
        pending = lines.pop()!
        lines.forEach(readEvent)
      })
      response.on('end', () =>
        response.statusCode === 200 && !Number.isNaN(answer.firstTokenMs)
          ? resolve(answer)
          : reject(new Error(`answered ${response.statusCode}`)),
      )
    })
    outgoing.on('error', reject)
    outgoing.end(JSON.stringify(body))
  })
}
