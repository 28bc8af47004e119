export interface RetryBudgetSettings {
  /** Retries may be at most this share of the requests in the window, in percent. */
  percent: number
  /** Retries always allowed per window, so a quiet router can still retry. */
  minRetries: number
  /** How far back "recent" reaches. */
  windowMs: number
}

const buckets = 10

/**
 * A retry budget in the way of Linkerd's: retries may add at most `percent` of the recent
 * requests (plus a small floor), so when many backends fail at once the router does not
 * multiply the load on the ones left. Counts in ten buckets across the window.
 */
export class RetryBudget {
  #settings: RetryBudgetSettings
  readonly #now: () => number
  readonly #requests = new Array<number>(buckets).fill(0)
  readonly #retries = new Array<number>(buckets).fill(0)
  #bucket = 0
  #bucketStart: number

  constructor(settings: RetryBudgetSettings, now: () => number = Date.now) {
    this.#settings = settings
    this.#now = now
    this.#bucketStart = now()
  }

  /** Changes the share allowed from now on; what the window counted stays. */
  setPercent(percent: number): void {
    this.#settings = { ...this.#settings, percent }
  }

  /** Counts a request from a client (not a retry). */
  request(): void {
    this.#advance()
    this.#requests[this.#bucket]!++
  }

  /** Whether one more retry fits the budget; if so, it is counted. */
  tryRetry(): boolean {
    this.#advance()
    const requests = this.#requests.reduce((a, b) => a + b, 0)
    const retries = this.#retries.reduce((a, b) => a + b, 0)
    const allowed = Math.max(this.#settings.minRetries, Math.floor((requests * this.#settings.percent) / 100))
    if (retries >= allowed) return false
    this.#retries[this.#bucket]!++
    return true
  }

  /** Moves to the current bucket, emptying the ones that fell out of the window. */
  #advance(): void {
    const width = this.#settings.windowMs / buckets
    const steps = Math.floor((this.#now() - this.#bucketStart) / width)
    if (steps <= 0) return
    for (let i = 0; i < Math.min(steps, buckets); i++) {
      this.#bucket = (this.#bucket + 1) % buckets
      this.#requests[this.#bucket] = 0
      this.#retries[this.#bucket] = 0
    }
    this.#bucketStart += steps * width
  }
}
