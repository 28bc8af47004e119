import type { KvAllocation, KvCache } from './kv-cache.ts'

export interface SchedulerLimits {
  maxNumSeqs: number
  maxWaitingRequests: number
}

/** One sequence's place in the scheduler: waiting, running (holding KV blocks), or done. */
export class Ticket {
  state: 'waiting' | 'running' | 'done' = 'waiting'
  allocation: KvAllocation | null = null
  readonly admitted: Promise<KvAllocation>
  #admit!: (allocation: KvAllocation) => void

  constructor(
    readonly prompt: readonly string[],
    /** Prompt plus answer: what the sequence will hold at its longest. */
    readonly totalTokens: number,
  ) {
    this.admitted = new Promise((resolve) => (this.#admit = resolve))
  }

  start(allocation: KvAllocation): void {
    this.state = 'running'
    this.allocation = allocation
    this.#admit(allocation)
  }
}

/**
 * Who runs: at most `maxNumSeqs` sequences, each holding its KV blocks; the rest wait first in,
 * first out. The head of the queue waits until both a slot and its blocks are free, and those
 * behind it wait too (vLLM's first-come-first-served policy). The queue holds at most
 * `maxWaitingRequests`; beyond that a request is turned away.
 */
export class Scheduler {
  readonly #running = new Set<Ticket>()
  readonly #waiting: Ticket[] = []

  constructor(
    private readonly limits: SchedulerLimits,
    private readonly kv: KvCache,
  ) {}

  get running(): number {
    return this.#running.size
  }

  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Queues one request's sequences, all or none: null when they would overfill the waiting
   * queue. Those that fit start at once (their `admitted` resolves).
   */
  submit(sequences: readonly { prompt: readonly string[]; totalTokens: number }[]): Ticket[] | null {
    const startNow = this.#waiting.length === 0 ? this.#startable(sequences, this.#running.size, this.kv.available) : 0
    if (this.#waiting.length + sequences.length - startNow > this.limits.maxWaitingRequests) return null
    const tickets = sequences.map((s) => new Ticket(s.prompt, s.totalTokens))
    this.#waiting.push(...tickets)
    this.#schedule()
    return tickets
  }

  /**
   * Whether these sequences could ever be queued, even on an idle server with an empty cache:
   * those that would start at once plus the waiting queue. If not, retrying cannot help.
   */
  couldEverTake(sequences: readonly { totalTokens: number }[]): boolean {
    return sequences.length - this.#startable(sequences, 0, this.kv.size) <= this.limits.maxWaitingRequests
  }

  /** Grows a running sequence to `tokens` tokens. */
  grow(ticket: Ticket, tokens: number): void {
    if (ticket.allocation) this.kv.grow(ticket.allocation, tokens)
  }

  /** Starts what the limits now allow, after they changed (more sequences may run). */
  limitsChanged(): void {
    this.#schedule()
  }

  /** Ends a sequence wherever it is: frees its slot and blocks, or takes it out of the queue. */
  release(ticket: Ticket): void {
    if (ticket.state === 'running') {
      this.#running.delete(ticket)
      this.kv.free(ticket.allocation!)
    } else if (ticket.state === 'waiting') {
      this.#waiting.splice(this.#waiting.indexOf(ticket), 1)
    }
    ticket.state = 'done'
    this.#schedule()
  }

  #schedule(): void {
    while (this.#waiting.length > 0 && this.#running.size < this.limits.maxNumSeqs) {
      const head = this.#waiting[0]!
      const allocation = this.kv.allocate(head.prompt, head.totalTokens)
      if (!allocation) return
      this.#waiting.shift()
      this.#running.add(head)
      head.start(allocation)
    }
  }

  /**
   * How many of these would start at once, counting blocks as if none were cached: a lower
   * bound, so the waiting queue never ends up longer than its limit.
   */
  #startable(sequences: readonly { totalTokens: number }[], running: number, available: number): number {
    let blocks = available
    let count = 0
    for (const sequence of sequences) {
      const needed = this.kv.blocksFor(sequence.totalTokens)
      if (running + count >= this.limits.maxNumSeqs || needed > blocks) break
      blocks -= needed
      count++
    }
    return count
  }
}
