import type { OutlierDetector } from './outlier.ts'

export type BreakerState = 'closed' | 'open' | 'half-open'

/** The permission to send one request, from CircuitBreaker.acquire(). */
export interface Permit {
  readonly probe: boolean
  readonly generation: number
}

/** The gauge's value for each state. */
export const breakerStateValue: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 }

/**
 * A circuit breaker for one backend, opened by its outlier detection:
 * - closed: requests flow; `consecutiveErrors` failures in a row open it;
 * - open: no requests, for the ejection time (growing with repeated ejections, capped);
 * - half-open: once that time is over, up to `probes` requests are let through at once; that
 *   many successes close the breaker, one failure opens it again for the next, longer, ejection.
 * This is how Linkerd's failure accrual behaves (consecutive failures, a growing penalty, then a
 * probe). Envoy's outlier detection is the same without the half-open step: an ejected host
 * gets full traffic back when its time is over.
 */
export class CircuitBreaker {
  readonly #outlier: OutlierDetector
  readonly #probes: number
  readonly #now: () => number
  readonly #onChange: (from: BreakerState, to: BreakerState) => void
  #state: BreakerState = 'closed'
  #openUntil = 0
  #probesInFlight = 0
  #probeSuccesses = 0
  /** Counts state changes, so a permit from an earlier period is told apart. */
  #generation = 0

  constructor(
    outlier: OutlierDetector,
    options: { probes: number; now?: () => number; onChange?: (from: BreakerState, to: BreakerState) => void },
  ) {
    this.#outlier = outlier
    this.#probes = options.probes
    this.#now = options.now ?? Date.now
    this.#onChange = options.onChange ?? (() => {})
  }

  /** The state now: an open breaker whose time is over is half-open. */
  get state(): BreakerState {
    if (this.#state === 'open' && this.#now() >= this.#openUntil) this.#move('half-open')
    return this.#state
  }

  /** When the current ejection ends (ms since the epoch of the clock); null unless open. */
  get openUntil(): number | null {
    return this.state === 'open' ? this.#openUntil : null
  }

  /** Whether a request may be sent now (a half-open breaker has a probe slot free). */
  get available(): boolean {
    const state = this.state
    return state === 'closed' || (state === 'half-open' && this.#probesInFlight + this.#probeSuccesses < this.#probes)
  }

  /**
   * Takes the permission to send one request; null when none may be sent. Every permit must be
   * handed back to exactly one of success(), failure() or release().
   */
  acquire(): Permit | null {
    if (!this.available) return null
    const probe = this.#state === 'half-open'
    if (probe) this.#probesInFlight++
    return { probe, generation: this.#generation }
  }

  success(permit: Permit): void {
    this.#outlier.success()
    if (this.#isProbe(permit) && ++this.#probeSuccesses >= this.#probes) this.#move('closed')
  }

  failure(permit: Permit): void {
    const eject = this.#outlier.failure()
    if (this.#isProbe(permit) || (this.state === 'closed' && eject)) this.#open()
  }

  /** The request ended without saying anything about the backend (the client went away). */
  release(permit: Permit): void {
    this.#isProbe(permit)
  }

  /**
   * Whether the permit is a probe of the current half-open period; if so its slot is freed.
   * A request sent before the breaker opened says nothing about whether the backend recovered.
   */
  #isProbe(permit: Permit): boolean {
    if (!permit.probe || permit.generation !== this.#generation || this.state !== 'half-open') return false
    this.#probesInFlight = Math.max(0, this.#probesInFlight - 1)
    return true
  }

  #open(): void {
    this.#openUntil = this.#now() + this.#outlier.eject()
    this.#move('open')
  }

  #move(to: BreakerState): void {
    const from = this.#state
    if (from === to) return
    this.#state = to
    this.#generation++
    this.#probesInFlight = 0
    this.#probeSuccesses = 0
    this.#onChange(from, to)
  }
}
