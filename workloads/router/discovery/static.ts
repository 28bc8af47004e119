import type { DiscoveredBackend, Discovery } from './discovery.ts'

/** `http://host:port` → `host:port`; the URL must name a port and nothing after it. */
export function addressOf(url: string): string {
  const parsed = URL.parse(url)
  if (!parsed) throw new Error(`backend ${url}: not a URL; write it as http://host:port`)
  if (parsed.protocol !== 'http:') throw new Error(`backend ${url}: only http:// is supported`)
  if (parsed.port === '') throw new Error(`backend ${url}: name the port, as in http://127.0.0.1:8000`)
  if (parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '')
    throw new Error(`backend ${url}: give only scheme, host and port`)
  return parsed.host
}

/** A fixed list of backends (`--backends`), for a laptop: every one is ready as far as discovery knows. */
export class StaticDiscovery implements Discovery {
  readonly #backends: DiscoveredBackend[]

  constructor(urls: readonly string[]) {
    const addresses = [...new Set(urls.map(addressOf))].sort()
    this.#backends = addresses.map((address) => ({ address, ready: true }))
  }

  start(onChange: (backends: DiscoveredBackend[]) => void): void {
    onChange(this.#backends.map((b) => ({ ...b })))
  }

  async stop(): Promise<void> {}
}
