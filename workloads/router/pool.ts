import type { FastifyBaseLogger } from 'fastify'
import { Backend } from './backend.ts'
import type { BackendSettings } from './backend.ts'
import type { DiscoveredBackend } from './discovery/discovery.ts'

/**
 * The backends discovery currently knows, by address. A new address gets a fresh backend whose
 * health checks start at once; a known one keeps its health, breaker and load and only takes
 * the new readiness; one no longer discovered is dropped and never picked again (requests in
 * flight to it finish).
 */
export class BackendPool {
  readonly #backends = new Map<string, Backend>()
  #sorted: Backend[] = []

  constructor(
    private readonly settings: BackendSettings,
    private readonly log: FastifyBaseLogger,
    private readonly onRemoved: (address: string) => void = () => {},
  ) {}

  update(discovered: readonly DiscoveredBackend[]): void {
    const seen = new Set<string>()
    for (const entry of discovered) {
      seen.add(entry.address)
      const known = this.#backends.get(entry.address)
      if (!known) {
        const backend = new Backend(entry, this.settings, this.log)
        this.#backends.set(entry.address, backend)
        backend.start()
        this.log.info({ backend: entry.address, ready: entry.ready }, 'backend added')
      } else if (known.ready !== entry.ready) {
        known.ready = entry.ready
        this.log.info(
          { backend: entry.address, ready: entry.ready },
          entry.ready ? 'backend ready' : 'backend not ready',
        )
      }
    }
    for (const [address, backend] of this.#backends) {
      if (seen.has(address)) continue
      backend.stop()
      this.#backends.delete(address)
      this.onRemoved(address)
      this.log.info({ backend: address }, 'backend removed')
    }
    this.#sorted = [...this.#backends.values()].sort((a, b) => (a.address < b.address ? -1 : 1))
  }

  /** Every known backend, by address. */
  get all(): readonly Backend[] {
    return this.#sorted
  }

  /** The backends a new request may go to, by address, leaving out those already tried. */
  candidates(exclude: ReadonlySet<Backend> = new Set()): Backend[] {
    return this.#sorted.filter((backend) => backend.routable && !exclude.has(backend))
  }

  stop(): void {
    for (const backend of this.#backends.values()) backend.stop()
  }
}
