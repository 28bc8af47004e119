/** A backend as discovery sees it. */
export interface DiscoveredBackend {
  /** `host:port` (an IPv6 host in brackets); the router's name for the backend. */
  address: string
  /** False for an endpoint that is not ready or is terminating: it keeps its state but gets no new requests. */
  ready: boolean
}

/**
 * Where backends come from. `start` calls `onChange` with the whole current set, sorted by
 * address, each time it changes (and once at the start); a backend missing from the set is gone.
 */
export interface Discovery {
  start(onChange: (backends: DiscoveredBackend[]) => void): void
  stop(): Promise<void>
}
