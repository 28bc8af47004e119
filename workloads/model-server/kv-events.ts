import type { KvCache, KvEvent } from './kv-cache.ts'

/** One client of `GET /kv-events`, as the publisher sees it: somewhere to write server-sent events. */
export interface KvEventSubscriber {
  /** Writes text to the client, whatever its socket has yet to take. */
  write(text: string): void
  /** Bytes written but not yet taken by the client's socket. */
  bufferedBytes(): number
  /** Ends the stream cleanly: the server is shutting down. */
  end(): void
  /** Cuts the connection: the client fell too far behind. */
  drop(): void
}

export interface KvEventLimits {
  maxSubscribers: number
  /** A subscriber with more than this waiting in its buffers is dropped. */
  maxBufferedBytes: number
  /** How often an idle stream gets a comment, so proxies do not cut it. */
  keepAliveMs: number
}

/**
 * The KV cache's events, sent to every subscriber as vLLM's publisher sends them to a KV-aware
 * router: batches `{ seq, ts, events }` whose `seq` rises by one per batch, so a subscriber that
 * sees a gap knows it missed some and reconnects. Where vLLM's ZMQ publisher keeps a replay
 * buffer, a subscriber here starts from a snapshot of every cached block instead, on each
 * connection, as Dynamo's router rebuilds its view by asking the workers. Events of one
 * event-loop turn go in one batch. While nobody subscribes, the cache is not listened to at all.
 */
export class KvEventPublisher {
  readonly #subscribers = new Set<KvEventSubscriber>()
  #pending: KvEvent[] = []
  #flushScheduled = false
  #seq = 0
  #keepAlive: NodeJS.Timeout | null = null

  constructor(
    private readonly kv: KvCache,
    private readonly limits: KvEventLimits,
  ) {}

  get subscribers(): number {
    return this.#subscribers.size
  }

  /**
   * Sends `subscriber` a snapshot of the cache, then every batch from there on; false (and nothing
   * sent) when there are already as many subscribers as allowed.
   */
  subscribe(subscriber: KvEventSubscriber): boolean {
    if (this.#subscribers.size >= this.limits.maxSubscribers) return false
    // Events not yet sent are already in the snapshot: the others get them first, under their own seq.
    this.#flush()
    if (this.#subscribers.size === 0) {
      this.kv.listen((events) => this.#collect(events))
      this.#keepAlive = setInterval(() => this.#sendAll(': keep-alive\n\n'), this.limits.keepAliveMs).unref()
    }
    this.#subscribers.add(subscriber)
    this.#send(
      subscriber,
      sseMessage('snapshot', { seq: this.#seq, blockSize: this.kv.blockSize, blocks: this.kv.cachedHashes() }),
    )
    return true
  }

  /** Stops sending to `subscriber`; the last one to leave stops the listening. Harmless twice. */
  unsubscribe(subscriber: KvEventSubscriber): void {
    if (!this.#subscribers.delete(subscriber) || this.#subscribers.size > 0) return
    this.kv.listen(null)
    this.#pending = []
    if (this.#keepAlive) clearInterval(this.#keepAlive)
    this.#keepAlive = null
  }

  /** Ends every stream cleanly, after what is pending: the server is shutting down. */
  endAll(): void {
    this.#flush()
    for (const subscriber of [...this.#subscribers]) {
      this.unsubscribe(subscriber)
      subscriber.end()
    }
  }

  #collect(events: KvEvent[]): void {
    this.#pending.push(...events)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(() => this.#flush())
  }

  #flush(): void {
    this.#flushScheduled = false
    if (this.#pending.length === 0) return
    const events = this.#pending
    this.#pending = []
    this.#seq++
    this.#sendAll(sseMessage('batch', { seq: this.#seq, ts: Date.now() / 1000, events }))
  }

  #sendAll(text: string): void {
    for (const subscriber of [...this.#subscribers]) this.#send(subscriber, text)
  }

  /** A subscriber that has not taken what it was sent is dropped rather than buffered without end; it reconnects to a snapshot. */
  #send(subscriber: KvEventSubscriber, text: string): void {
    if (subscriber.bufferedBytes() > this.limits.maxBufferedBytes) {
      this.unsubscribe(subscriber)
      subscriber.drop()
      return
    }
    subscriber.write(text)
  }
}

function sseMessage(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}
