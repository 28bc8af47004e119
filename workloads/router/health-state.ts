export interface HealthSettings {
  /** Passed checks in a row that make an unhealthy backend healthy. */
  healthyThreshold: number
  /** Failed checks in a row that make a healthy backend unhealthy. */
  unhealthyThreshold: number
}

/**
 * The verdict of active health checks on one backend. A new backend is unhealthy until a check
 * passes; until it has passed once, one pass is enough, as in Envoy, so a backend that appears
 * takes traffic after one interval rather than `healthyThreshold` of them.
 * After that, it takes `unhealthyThreshold` failures in a row to turn unhealthy and
 * `healthyThreshold` passes in a row to turn healthy again, so one slow answer does not flap it.
 */
export class HealthState {
  #healthy = false
  #everHealthy = false
  #streak = 0

  constructor(private readonly settings: HealthSettings) {}

  get healthy(): boolean {
    return this.#healthy
  }

  /** Records one check; returns true when the verdict changed. */
  record(passed: boolean): boolean {
    if (passed === this.#healthy) {
      this.#streak = 0
      return false
    }
    this.#streak++
    const needed = passed ? (this.#everHealthy ? this.settings.healthyThreshold : 1) : this.settings.unhealthyThreshold
    if (this.#streak < needed) return false
    this.#healthy = passed
    this.#everHealthy ||= passed
    this.#streak = 0
    return true
  }
}
