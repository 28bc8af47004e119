import { get } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { KvIndex } from './kv-index.ts'

/** One entry of a `batch` event, as the model server (and vLLM's KV events) name them. */
type KvEvent =
  | { type: 'BlockStored'; block_hashes: string[]; parent_block_hash?: string | null; block_size?: number }
  | { type: 'BlockRemoved'; block_hashes: string[] }
  | { type: 'AllBlocksCleared' }

interface Snapshot {
  seq: number
  blockSize: number
  blocks: string[]
}

interface Batch {
  seq: number
  ts?: number
  events: KvEvent[]
}

export interface KvEventsOptions {
  url: string
  address: string
  index: Pick<KvIndex, 'replace' | 'stored' | 'removed' | 'cleared'>
  log: FastifyBaseLogger
  /** First wait before reconnecting; doubled after each failure up to maxBackoffMs. */
  backoffMs?: number
  maxBackoffMs?: number
  /** No byte (not even a keep-alive comment) for this long: the stream is taken as dead. */
  idleTimeoutMs?: number
}

/**
 * Follows one backend's `GET /kv-events` (server-sent events) into the KV index: a `snapshot`
 * first (everything it caches now, replacing what the index knew of it), then `batch`es of
 * BlockStored / BlockRemoved / AllBlocksCleared, numbered one after another. A gap in the
 * numbering means events were lost, so the client reconnects and takes a snapshot again, as
 * Dynamo's router rebuilds a worker's state from its local indexer. A refused or broken stream
 * (503 when the server has too many subscribers, the server gone) is retried with exponential
 * backoff; a stream that reaches its snapshot resets the backoff.
 */
export class KvEventsClient {
  readonly #options: KvEventsOptions
  readonly #abort = new AbortController()
  #timer: NodeJS.Timeout | undefined
  #backoffMs: number
  #seq = -1
  #connected = false
  /** Counts connections, so the late end of an earlier one is not taken for the current one's. */
  #attempt = 0

  constructor(options: KvEventsOptions) {
    this.#options = options
    this.#backoffMs = options.backoffMs ?? 250
  }

  /** True while a stream is open and its snapshot was applied. */
  get connected(): boolean {
    return this.#connected
  }

  start(): void {
    this.#connect()
  }

  stop(): void {
    this.#abort.abort()
    clearTimeout(this.#timer)
  }

  #connect(): void {
    if (this.#abort.signal.aborted) return
    const { url, idleTimeoutMs = 30_000 } = this.#options
    const attempt = ++this.#attempt
    const request = get(
      `${url}/kv-events`,
      { signal: this.#abort.signal, timeout: idleTimeoutMs, headers: { accept: 'text/event-stream' } },
      (response) => this.#follow(response, attempt),
    )
    request.on('timeout', () => request.destroy(new Error(`no event for ${idleTimeoutMs} ms`)))
    request.on('error', (error) => this.#retry(attempt, error.message))
  }

  #follow(response: IncomingMessage, attempt: number): void {
    if (response.statusCode !== 200) {
      response.resume()
      this.#retry(attempt, `answered ${response.statusCode}`)
      return
    }
    response.setEncoding('utf8')
    let buffer = ''
    response.on('data', (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (!this.#handle(block)) {
          response.destroy()
          return
        }
      }
    })
    response.on('close', () => this.#retry(attempt, 'stream ended'))
  }

  /** Applies one event; false when the stream must be reopened (a gap, a malformed event). */
  #handle(block: string): boolean {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim()
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
    }
    if (data.length === 0) return true // a comment: `: keep-alive`
    const { address, index, log } = this.#options
    try {
      const payload = JSON.parse(data.join('\n')) as Snapshot | Batch
      if (event === 'snapshot') {
        const snapshot = payload as Snapshot
        index.replace(address, snapshot.blocks, snapshot.blockSize)
        this.#seq = snapshot.seq
        this.#connected = true
        this.#backoffMs = this.#options.backoffMs ?? 250
        log.debug({ seq: snapshot.seq, blocks: snapshot.blocks.length }, 'kv snapshot')
        return true
      }
      if (event !== 'batch') return true
      const batch = payload as Batch
      if (!this.#connected || batch.seq !== this.#seq + 1) {
        log.warn(
          { expected: this.#seq + 1, got: batch.seq },
          'kv events: a gap in the sequence, taking a snapshot again',
        )
        return false
      }
      this.#seq = batch.seq
      for (const entry of batch.events) {
        if (entry.type === 'BlockStored') index.stored(address, entry.block_hashes)
        else if (entry.type === 'BlockRemoved') index.removed(address, entry.block_hashes)
        else if (entry.type === 'AllBlocksCleared') index.cleared(address)
      }
      return true
    } catch (error) {
      log.warn({ err: error }, 'kv events: an event that is not JSON, reconnecting')
      return false
    }
  }

  #retry(attempt: number, reason: string): void {
    if (this.#abort.signal.aborted || attempt !== this.#attempt || this.#timer !== undefined) return
    const wasConnected = this.#connected
    this.#connected = false
    this.#seq = -1
    const waitMs = this.#backoffMs
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs ?? 5000)
    if (wasConnected) this.#options.log.info({ reason, retryInMs: waitMs }, 'kv events stream lost')
    else this.#options.log.debug({ reason, retryInMs: waitMs }, 'kv events: cannot subscribe yet')
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#connect()
    }, waitMs)
  }
}
