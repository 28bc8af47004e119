import type { KvAllocation, KvCache } from './kv-cache.ts'

export interface SchedulerLimits {
  maxNumSeqs: number
  maxWaitingRequests: number
}

/** vLLM's `--scheduling-policy`: the order of the waiting queue. */
export type SchedulingPolicy = 'fcfs' | 'priority'
export const schedulingPolicies: readonly SchedulingPolicy[] = ['fcfs', 'priority']

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
    /** The request's `priority`: lower runs earlier (priority policy only). */
    readonly priority: number,
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
 * Who runs: at most `maxNumSeqs` sequences, each holding its KV blocks; the rest wait in a queue
 * ordered by arrival (`fcfs`) or by the request's priority, then arrival (`priority`, lower
 * first), as vLLM's two policies order theirs. The head of the queue waits until both a slot and
 * its blocks are free, and those behind it wait too. The queue holds at most
 * `maxWaitingRequests`; beyond that a request is turned away. Nothing is preempted: vLLM, short
 * of blocks for a running sequence, preempts the lowest-priority one (the latest under fcfs), but
 * here blocks are reserved for the whole answer at admission, so a running sequence never runs
 * short, and an urgent request waits for the next slot that frees.
 */
export class Scheduler {
  readonly #running = new Set<Ticket>()
  /** In the order they will run: the head next. */
  readonly #waiting: Ticket[] = []

  constructor(
    private readonly limits: SchedulerLimits,
    private readonly kv: KvCache,
    private readonly policy: SchedulingPolicy = 'fcfs',
  ) {}

  get running(): number {
    return this.#running.size
  }

  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Queues one request's sequences, all or none, at `priority` (ignored by `fcfs`): null when
   * they would overfill the waiting queue. Those that fit start at once (their `admitted` resolves).
   */
  submit(sequences: readonly { prompt: readonly string[]; totalTokens: number }[], priority = 0): Ticket[] | null {
    const startNow = this.#waiting.length === 0 ? this.#startable(sequences, this.#running.size, this.kv.available) : 0
    if (this.#waiting.length + sequences.length - startNow > this.limits.maxWaitingRequests) return null
    const tickets = sequences.map((s) => new Ticket(s.prompt, s.totalTokens, priority))
    for (const ticket of tickets) this.#enqueue(ticket)
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

  /** Behind every ticket already waiting (fcfs), or behind those whose priority is not higher, so equal ones keep arrival order. */
  #enqueue(ticket: Ticket): void {
    let at = this.#waiting.length
    if (this.policy === 'priority') while (at > 0 && this.#waiting[at - 1]!.priority > ticket.priority) at--
    this.#waiting.splice(at, 0, ticket)
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
