import type { Permit } from '../router/breaker.ts'
import type { Chooser, Routed } from './choose.ts'
import type { Tracked } from './fleet.ts'
import type { RequestQueue, Waiting } from './queue.ts'

/** How a request's wait in the queue ended. */
export type Settlement =
  | {
      kind: 'assigned'
      tracked: Tracked
      permit: Permit
      /** KV blocks the request adds to the backend's load until it finishes (its cached prefix is shared). */
      blocks: number
      overlapBlocks: number
    }
  | { kind: 'expired' }
  | { kind: 'cancelled' }
  | { kind: 'shutdown' }

/** A request as it waits: what routing reads, the backends it must not go back to, and its settlement. */
export class Ticket implements Routed {
  /** Backends that refused it already (a requeue goes elsewhere). */
  readonly exclude = new Set<string>()
  readonly #chains = new Map<number, readonly string[]>()
  #settle: ((settlement: Settlement) => void) | null = null
  #settled: Promise<Settlement> | null = null

  constructor(
    readonly route: Routed['route'],
    readonly promptTokens: number,
    private readonly hashChain: (blockSize: number) => readonly string[],
  ) {}

  chain(blockSize: number): readonly string[] {
    let chain = this.#chains.get(blockSize)
    if (!chain) this.#chains.set(blockSize, (chain = this.hashChain(blockSize)))
    return chain
  }

  /** The settlement of its current wait: call once per time it is queued, before it can settle. */
  waiting(): Promise<Settlement> {
    this.#settled = new Promise((resolve) => (this.#settle = resolve))
    return this.#settled
  }

  /** Ends the current wait; later calls for the same wait do nothing. */
  settle(settlement: Settlement): void {
    const settle = this.#settle
    this.#settle = null
    settle?.(settlement)
  }
}

export interface DispatcherOptions {
  queue: RequestQueue<Ticket>
  /** Backends in service now, by address. */
  routable: () => readonly Tracked[]
  chooser: Chooser
  /** 0: each arrival is assigned at once; else arrivals wait this long to be assigned together. */
  batchWindowMs: number
}

/**
 * Hands waiting requests to backends with room. A pass walks the queue in its order (priority,
 * then arrival) and gives each request a backend among those in service and not saturated; each
 * assignment counts in the backend's load (and the chooser's predicted KV blocks) before the
 * next is decided, so a burst spreads and requests sharing a prefix follow each other. The pass
 * stops when no backend has room. Passes run on an arrival (at once, or after the batch window,
 * so that arrivals close together are assigned together, highest priority first), when a
 * request finishes, and when a scrape reports new load.
 */
export class Dispatcher {
  readonly #options: DispatcherOptions
  #windowTimer: NodeJS.Timeout | undefined
  #soon = false

  constructor(options: DispatcherOptions) {
    this.#options = options
  }

  /** Queues a request; null when its class is full. */
  submit(ticket: Ticket, priority: number, deadline: number): Waiting<Ticket> | null {
    const entry = this.#options.queue.add(ticket, priority, deadline)
    if (!entry) return null
    if (this.#options.batchWindowMs === 0) this.pass()
    else this.#windowTimer ??= setTimeout(() => this.pass(), this.#options.batchWindowMs)
    return entry
  }

  /** Back to the front of its class, for another backend (one refused it). */
  requeue(entry: Waiting<Ticket>): void {
    this.#options.queue.putBack(entry)
    this.wake()
  }

  /** Capacity may have freed: a pass soon, one for however many calls before it. */
  wake(): void {
    if (this.#soon) return
    this.#soon = true
    setImmediate(() => this.pass())
  }

  pass(): void {
    clearTimeout(this.#windowTimer)
    this.#windowTimer = undefined
    this.#soon = false
    const { queue, routable, chooser } = this.#options
    if (queue.size === 0) return
    const inService = routable()
    let open = inService.filter((t) => !t.load.saturated)
    if (open.length === 0) return
    for (const entry of queue.inOrder((expired) => expired.item.settle({ kind: 'expired' }))) {
      const ticket = entry.item
      // A request a backend refused goes elsewhere while there is elsewhere to go; when every
      // backend in service refused it, it may try them again.
      if (ticket.exclude.size > 0 && inService.every((t) => ticket.exclude.has(t.address))) ticket.exclude.clear()
      const candidates = ticket.exclude.size === 0 ? open : open.filter((t) => !ticket.exclude.has(t.address))
      // Only backends this request may not go back to have room: later ones may use them.
      if (candidates.length === 0) continue
      const { tracked, overlapBlocks } = chooser.choose(ticket, candidates)
      const permit = tracked.backend.breaker.acquire()
      if (permit) {
        queue.remove(entry)
        const blocks = Math.max(0, Math.ceil(ticket.promptTokens / tracked.load.blockSize) - overlapBlocks)
        tracked.load.dispatched(blocks)
        ticket.settle({ kind: 'assigned', tracked, permit, blocks, overlapBlocks })
      }
      if (!permit || tracked.load.saturated) {
        open = open.filter((t) => t !== tracked)
        if (open.length === 0) return
      }
    }
  }

  stop(): void {
    clearTimeout(this.#windowTimer)
  }
}
