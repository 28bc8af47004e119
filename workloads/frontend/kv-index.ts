/**
 * Which backend holds which KV block, by the block's hash (the model server's hash chain over its
 * tokens, `shared/block-hashes.ts`). Two sources, as in Dynamo's KV router:
 * - events: each backend's `/kv-events` says which blocks it stored and evicted; a snapshot
 *   replaces everything known of that backend (after a reconnect, or a gap in the sequence);
 * - predictions: when the frontend sends a prompt to a backend, the prompt's blocks will be
 *   there once it is prefilled, so they count at once, for `ttlMs`, and the next request with
 *   the same prefix follows (Dynamo's approximate mode keeps only these).
 * A backend that leaves discovery is dropped whole.
 */
export class KvIndex {
  /** Per backend, the blocks its events say it holds. */
  readonly #stored = new Map<string, Set<string>>()
  /** Per backend, blocks predicted from what was sent there, with when each prediction ends. */
  readonly #predicted = new Map<string, Map<string, number>>()
  readonly #blockSizes = new Map<string, number>()
  readonly #ttlMs: number
  readonly #now: () => number

  constructor(options: { ttlMs: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs
    this.#now = options.now ?? performance.now.bind(performance)
  }

  /** A snapshot: everything the backend holds now, replacing what was known. Predictions stay. */
  replace(address: string, hashes: Iterable<string>, blockSize?: number): void {
    this.#stored.set(address, new Set(hashes))
    if (blockSize !== undefined) this.#blockSizes.set(address, blockSize)
  }

  stored(address: string, hashes: Iterable<string>): void {
    let blocks = this.#stored.get(address)
    if (!blocks) this.#stored.set(address, (blocks = new Set()))
    const predicted = this.#predicted.get(address)
    for (const hash of hashes) {
      blocks.add(hash)
      predicted?.delete(hash)
    }
  }

  removed(address: string, hashes: Iterable<string>): void {
    const blocks = this.#stored.get(address)
    const predicted = this.#predicted.get(address)
    for (const hash of hashes) {
      blocks?.delete(hash)
      predicted?.delete(hash)
    }
  }

  cleared(address: string): void {
    this.#stored.get(address)?.clear()
    this.#predicted.get(address)?.clear()
  }

  /** The backend left discovery: nothing of it is kept. */
  drop(address: string): void {
    this.#stored.delete(address)
    this.#predicted.delete(address)
    this.#blockSizes.delete(address)
  }

  /** The block size the backend's events announced, if any. */
  blockSizeOf(address: string): number | undefined {
    return this.#blockSizes.get(address)
  }

  /** The prompt's blocks were sent to the backend: count them as held there until an event says otherwise or the TTL ends. */
  predict(address: string, hashes: readonly string[]): void {
    if (this.#ttlMs === 0 || hashes.length === 0) return
    let predicted = this.#predicted.get(address)
    if (!predicted) this.#predicted.set(address, (predicted = new Map()))
    const now = this.#now()
    const stored = this.#stored.get(address)
    for (const hash of hashes) {
      if (stored?.has(hash)) continue
      // Re-inserted, so the map stays in order of expiry and the sweep stops at the first live one.
      predicted.delete(hash)
      predicted.set(hash, now + this.#ttlMs)
    }
    for (const [hash, until] of predicted) {
      if (until > now) break
      predicted.delete(hash)
    }
  }

  /** How many leading blocks of the chain the backend holds, stored or predicted. */
  overlap(address: string, chain: readonly string[]): number {
    const stored = this.#stored.get(address)
    const predicted = this.#predicted.get(address)
    if (!stored && !predicted) return 0
    const now = this.#now()
    let blocks = 0
    for (const hash of chain) {
      if (stored?.has(hash)) blocks++
      else if ((predicted?.get(hash) ?? 0) > now) blocks++
      else break
    }
    return blocks
  }

  /** Blocks the events say the backend holds (for status and tests). */
  storedCount(address: string): number {
    return this.#stored.get(address)?.size ?? 0
  }

  /** The backends known to the index. */
  get backends(): string[] {
    return [...new Set([...this.#stored.keys(), ...this.#predicted.keys()])].sort()
  }
}
