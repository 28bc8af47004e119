import type { FastifyBaseLogger } from 'fastify'
import type { Backend } from '../router/backend.ts'
import type { DiscoveredBackend } from '../router/discovery/discovery.ts'
import type { BackendPool } from '../router/pool.ts'
import { KvEventsClient } from './kv-events-client.ts'
import type { KvIndex } from './kv-index.ts'
import { BackendLoad } from './load.ts'
import type { LoadSettings } from './load.ts'
import { MetricsScraper } from './metrics-scraper.ts'

/** A backend with what the frontend adds to the router's view of it: its load, its scrapes, its KV events. */
export interface Tracked {
  readonly address: string
  readonly backend: Backend
  readonly load: BackendLoad
  readonly scraper: MetricsScraper
  /** Null unless the kv policy routes. */
  readonly events: KvEventsClient | null
}

export interface FleetOptions {
  pool: BackendPool
  load: LoadSettings
  metricsIntervalMs: number
  /** Follow each backend's KV events into this index; null when the policy does not use them. */
  kvIndex: KvIndex | null
  log: FastifyBaseLogger
  /** A scrape came in: capacity may have freed. */
  onReport: () => void
}

/**
 * The router's backend pool (discovery, health checks, breakers) plus, for each backend, the
 * frontend's load estimate fed by scrapes and, with the kv policy, its KV events. A backend
 * that leaves discovery stops being scraped and followed, and is dropped from the KV index.
 */
export class Fleet {
  readonly #options: FleetOptions
  readonly #tracked = new Map<string, Tracked>()
  #sorted: Tracked[] = []

  constructor(options: FleetOptions) {
    this.#options = options
  }

  update(discovered: readonly DiscoveredBackend[]): void {
    const { pool, log, kvIndex } = this.#options
    pool.update(discovered)
    const present = new Set(pool.all.map((b) => b.address))
    for (const [address, tracked] of this.#tracked) {
      if (present.has(address)) continue
      tracked.scraper.stop()
      tracked.events?.stop()
      kvIndex?.drop(address)
      this.#tracked.delete(address)
    }
    for (const backend of pool.all) {
      if (this.#tracked.has(backend.address)) continue
      const load = new BackendLoad(this.#options.load)
      const scraper = new MetricsScraper({
        url: backend.url,
        load,
        intervalMs: this.#options.metricsIntervalMs,
        timeoutMs: this.#options.load.stalenessMs,
        onReport: this.#options.onReport,
      })
      const events = kvIndex
        ? new KvEventsClient({
            url: backend.url,
            address: backend.address,
            index: kvIndex,
            log: log.child({ backend: backend.address, component: 'kv-events' }),
          })
        : null
      this.#tracked.set(backend.address, { address: backend.address, backend, load, scraper, events })
      scraper.start()
      events?.start()
    }
    this.#sorted = [...this.#tracked.values()].sort((a, b) => (a.address < b.address ? -1 : 1))
  }

  /** Every backend discovery lists, by address. */
  get all(): readonly Tracked[] {
    return this.#sorted
  }

  /** Backends that may take a request now as the router judges it: ready, healthy, breaker letting it through. */
  routable(): Tracked[] {
    return this.all.filter((t) => t.backend.routable)
  }

  get(address: string): Tracked | undefined {
    return this.#tracked.get(address)
  }

  stop(): void {
    for (const tracked of this.#tracked.values()) {
      tracked.scraper.stop()
      tracked.events?.stop()
    }
    this.#options.pool.stop()
  }
}
