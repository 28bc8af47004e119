import type { FastifyBaseLogger } from 'fastify'
import { CircuitBreaker } from './breaker.ts'
import type { BreakerState } from './breaker.ts'
import type { DiscoveredBackend } from './discovery/discovery.ts'
import { HealthCheck } from './health-check.ts'
import type { HealthCheckSettings } from './health-check.ts'
import { OutlierDetector } from './outlier.ts'
import type { OutlierSettings } from './outlier.ts'
import type { Candidate } from './policies/policy.ts'

export interface BackendSettings {
  health: HealthCheckSettings
  outlier: OutlierSettings
  /** Requests a half-open breaker lets through, all of which must succeed to close it. */
  halfOpenRequests: number
}

/** One backend as `GET /backends` shows it. */
export interface BackendStatus {
  address: string
  /** What discovery says: false for an endpoint that is not ready or is terminating. */
  ready: boolean
  /** What the active health checks say. */
  healthy: boolean
  breaker: BreakerState
  /** Requests in flight to it through this router. */
  outstanding: number
  /** When its ejection ends (ISO 8601), while the breaker is open; else null. */
  ejectedUntil: string | null
}

/** A backend and everything the router knows about it: readiness, health, breaker, load. */
export class Backend implements Candidate {
  readonly address: string
  readonly url: string
  /** Host and port as http.request takes them, parsed once: a URL string is parsed again for every request. */
  readonly endpoint: { hostname: string; port: string }
  ready: boolean
  outstanding = 0
  readonly breaker: CircuitBreaker
  readonly #health: HealthCheck

  constructor(discovered: DiscoveredBackend, settings: BackendSettings, log: FastifyBaseLogger) {
    this.address = discovered.address
    this.url = `http://${discovered.address}`
    const { hostname, port } = new URL(this.url)
    // An IPv6 address comes bracketed in a URL, and without brackets in http.request's options.
    this.endpoint = { hostname: hostname.replace(/^\[(.*)\]$/, '$1'), port }
    this.ready = discovered.ready
    const backendLog = log.child({ backend: this.address })
    this.breaker = new CircuitBreaker(new OutlierDetector(settings.outlier), {
      probes: settings.halfOpenRequests,
      onChange: (from, to) => {
        const ejectedUntil = this.breaker.openUntil
        backendLog.warn(
          { from, to, ejectedUntil: ejectedUntil ? new Date(ejectedUntil).toISOString() : null },
          `breaker ${to}`,
        )
      },
    })
    this.#health = new HealthCheck(this.url, settings.health, (healthy, reason) => {
      if (healthy) backendLog.info({ reason }, 'backend healthy')
      else backendLog.warn({ reason }, 'backend unhealthy')
    })
  }

  get healthy(): boolean {
    return this.#health.state.healthy
  }

  /** May a new request go here now: ready, healthy, and a breaker that lets it through. */
  get routable(): boolean {
    return this.ready && this.healthy && this.breaker.available
  }

  /** Counted as in service (readiness, the healthy-backends gauge): ready, healthy, breaker not open. */
  get inService(): boolean {
    return this.ready && this.healthy && this.breaker.state !== 'open'
  }

  start(): void {
    this.#health.start()
  }

  stop(): void {
    this.#health.stop()
  }

  status(): BackendStatus {
    const openUntil = this.breaker.openUntil
    return {
      address: this.address,
      ready: this.ready,
      healthy: this.healthy,
      breaker: this.breaker.state,
      outstanding: this.outstanding,
      ejectedUntil: openUntil === null ? null : new Date(openUntil).toISOString(),
    }
  }
}
