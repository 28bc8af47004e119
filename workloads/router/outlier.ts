export interface OutlierSettings {
  /** Failures in a row (5xx answers, connection errors, timeouts) that eject a backend. */
  consecutiveErrors: number
  /** The first ejection's length; each further ejection lasts this much longer. */
  baseEjectionMs: number
  /** No ejection lasts longer than this. */
  maxEjectionMs: number
}

/**
 * How long the n-th ejection lasts (n from 1): Envoy's rule, base × n, capped. Envoy's
 * defaults are a 30 s base and a 300 s cap; the lab's base is shorter so a learner sees it.
 */
export function ejectionMs(ejections: number, settings: OutlierSettings): number {
  return Math.min(settings.baseEjectionMs * Math.max(1, ejections), settings.maxEjectionMs)
}

/**
 * Passive outlier detection for one backend: it counts failures in a row of real requests and
 * says when the backend should be ejected, and for how long. A backend ejected again soon after
 * stays out longer; every base-ejection period it goes without an ejection takes one off the
 * count, as Envoy lowers its ejection multiplier while a host stays healthy.
 */
export class OutlierDetector {
  readonly settings: OutlierSettings
  #consecutive = 0
  #ejections = 0
  /** When the last ejection ended (or started, while one lasts); the count decays from there. */
  #since = 0

  constructor(
    settings: OutlierSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.settings = settings
  }

  /** Failures in a row so far. */
  get consecutiveErrors(): number {
    return this.#consecutive
  }

  /** Ejections counted so far, before decay. */
  get ejections(): number {
    return this.#ejections
  }

  success(): void {
    this.#consecutive = 0
  }

  /** Counts a failure; true when it makes `consecutiveErrors` in a row, which should eject. */
  failure(): boolean {
    this.#consecutive++
    return this.#consecutive >= this.settings.consecutiveErrors
  }

  /** Starts an ejection: counts it and returns how long it lasts. */
  eject(): number {
    const now = this.now()
    const healthyPeriods = this.#ejections === 0 ? 0 : Math.floor((now - this.#since) / this.settings.baseEjectionMs)
    this.#ejections = Math.max(0, this.#ejections - healthyPeriods) + 1
    this.#consecutive = 0
    const duration = ejectionMs(this.#ejections, this.settings)
    this.#since = now + duration
    return duration
  }
}
