/** One request waiting in the queue. */
export interface Waiting<T> {
  readonly item: T
  /** 0 is served first, as vLLM's `priority` (lower runs earlier). */
  readonly priority: number
  /** When it joined, on the queue's clock. */
  readonly enqueuedAt: number
  /** When it expires, on the queue's clock: from then on it is never handed out. */
  readonly deadline: number
}

interface Link<T> extends Waiting<T> {
  prev: Link<T> | null
  next: Link<T> | null
  queued: boolean
}

/** One class's line: first in, first out, with removal from anywhere in O(1) (a cancelled client). */
class Line<T> {
  head: Link<T> | null = null
  tail: Link<T> | null = null
  length = 0

  pushBack(link: Link<T>): void {
    link.prev = this.tail
    link.next = null
    if (this.tail) this.tail.next = link
    else this.head = link
    this.tail = link
    this.length++
  }

  pushFront(link: Link<T>): void {
    link.prev = null
    link.next = this.head
    if (this.head) this.head.prev = link
    else this.tail = link
    this.head = link
    this.length++
  }

  unlink(link: Link<T>): void {
    if (link.prev) link.prev.next = link.next
    else this.head = link.next
    if (link.next) link.next.prev = link.prev
    else this.tail = link.prev
    link.prev = link.next = null
    this.length--
  }
}

export interface QueueOptions {
  /** Priorities 0 .. classes − 1. */
  classes: number
  /** Requests one class may hold; `add` refuses one more. */
  maxPerClass: number
  now?: () => number
}

/**
 * The frontend's waiting room: one first-in-first-out line per priority class, served strictly
 * by class (0 first), each line bounded. A request leaves it exactly once: handed out, removed
 * (its client went away), or expired. An expired request is never handed out, whatever the
 * order of timers: `inOrder` drops it on the way and reports it.
 */
export class RequestQueue<T> {
  readonly #lines: Line<T>[]
  readonly #maxPerClass: number
  readonly #now: () => number
  #size = 0

  constructor(options: QueueOptions) {
    this.#lines = Array.from({ length: options.classes }, () => new Line<T>())
    this.#maxPerClass = options.maxPerClass
    this.#now = options.now ?? performance.now.bind(performance)
  }

  get size(): number {
    return this.#size
  }

  sizeOf(priority: number): number {
    return this.#lines[priority]?.length ?? 0
  }

  /** Joins the back of its class's line; null when that line is full (or the priority has no class). */
  add(item: T, priority: number, deadline: number): Waiting<T> | null {
    const line = this.#lines[priority]
    if (!line || line.length >= this.#maxPerClass) return null
    const link: Link<T> = { item, priority, enqueuedAt: this.#now(), deadline, prev: null, next: null, queued: true }
    line.pushBack(link)
    this.#size++
    return link
  }

  /**
   * Puts a request that was handed out back at the front of its line, ahead of later arrivals
   * (a backend never took it). The bound does not apply: it was already counted once.
   */
  putBack(entry: Waiting<T>): void {
    const link = entry as Link<T>
    if (link.queued) return
    link.queued = true
    this.#lines[link.priority]!.pushFront(link)
    this.#size++
  }

  /** Takes a request out (handed out, cancelled, expired); false when it was not waiting. */
  remove(entry: Waiting<T>): boolean {
    const link = entry as Link<T>
    if (!link.queued) return false
    link.queued = false
    this.#lines[link.priority]!.unlink(link)
    this.#size--
    return true
  }

  has(entry: Waiting<T>): boolean {
    return (entry as Link<T>).queued
  }

  /**
   * The waiting requests in the order they are served: class 0 first, first in first out
   * within a class. Expired ones are removed on the way and passed to `onExpired` instead.
   * The caller may remove the request it was just given, and no other, before asking for the next.
   */
  *inOrder(onExpired: (entry: Waiting<T>) => void): Generator<Waiting<T>> {
    const now = this.#now()
    for (const line of this.#lines) {
      let link = line.head
      while (link) {
        const next = link.next
        if (link.deadline <= now) {
          this.remove(link)
          onExpired(link)
          link = next
          continue
        }
        yield link
        link = link.queued ? link.next : next
      }
    }
  }
}
