import { blockHashes } from '../shared/block-hashes.ts'

interface Block {
  readonly id: number
  /** Identifies a full prompt block by its tokens and every block before it; null when not cached. */
  hash: string | null
  /** Sequences holding the block; 0 means free (and, with a hash, still reusable). */
  refs: number
}

/** The blocks one sequence holds, and how many more it was promised for the tokens it will generate. */
export interface KvAllocation {
  readonly blocks: Block[]
  reserved: number
  /** Prompt tokens found in the prefix cache: prefill skips them. */
  readonly cachedTokens: number
}

/**
 * What happened to the cache, named and shaped as vLLM's KV events (`vllm.distributed.kv_events`)
 * less the fields nobody here needs: no `token_ids`, since a subscriber computes the same hashes
 * from a prompt with `workloads/shared/block-hashes.ts`; no LoRA or medium (one model, GPU only).
 */
export type KvEvent =
  | { type: 'BlockStored'; block_hashes: string[]; parent_block_hash: string | null; block_size: number }
  | { type: 'BlockRemoved'; block_hashes: string[] }
  | { type: 'AllBlocksCleared' }

export type KvEventListener = (events: KvEvent[]) => void

/**
 * vLLM's paged KV cache in miniature. Memory is `numBlocks` blocks of `blockSize` tokens; a
 * sequence holds ceil(tokens / blockSize) of them. Each full prompt block is named by a hash
 * chain over its tokens (the hash of block i covers blocks 0..i), so two prompts share a block
 * only if everything before it matches too. A finished sequence's hashed blocks stay cached,
 * least recently used first in line for eviction, so a later prompt with the same prefix reuses
 * them. Admission reserves blocks for the whole answer up front, so a running sequence never
 * runs out (vLLM instead admits sooner and preempts when it does). A listener, if any, hears of
 * every block stored, evicted or cleared, as vLLM's KV events tell a KV-aware router.
 */
export class KvCache {
  readonly #blockSize: number
  readonly #numBlocks: number
  /** Free blocks that hold nothing reusable. */
  readonly #empty: Block[]
  /** Every block with a hash, held or not. */
  readonly #cached = new Map<string, Block>()
  /** Free blocks with a hash, in least-recently-used order (a Map iterates in insertion order). */
  readonly #evictable = new Map<string, Block>()
  /** Blocks promised to running sequences for tokens they have yet to generate. */
  #reserved = 0
  /** Told of every change in the cached blocks; null: nobody listens, and no event is built. */
  #listener: KvEventListener | null = null

  constructor(blockSize: number, numBlocks: number) {
    this.#blockSize = blockSize
    this.#numBlocks = numBlocks
    this.#empty = Array.from({ length: numBlocks }, (_, id) => ({ id, hash: null, refs: 0 }))
  }

  /**
   * Calls `listener` with the events of each change, from now on: a block stored when it gets its
   * hash, removed when it is evicted, all cleared by `reset`. One call per allocation, never one
   * per block. null stops it.
   */
  listen(listener: KvEventListener | null): void {
    this.#listener = listener
  }

  /** The hash of every block cached right now, held by a sequence or not. */
  cachedHashes(): string[] {
    return [...this.#cached.keys()]
  }

  /** Blocks a sequence of `tokens` tokens holds. */
  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.#blockSize)
  }

  /** Tokens per block. */
  get blockSize(): number {
    return this.#blockSize
  }

  /** Blocks of the whole cache, in use or not. */
  get size(): number {
    return this.#numBlocks
  }

  /** Blocks that can still be promised: free ones (cached or not) minus the reservations. */
  get available(): number {
    return this.#empty.length + this.#evictable.size - this.#reserved
  }

  /** Used blocks over all blocks, 0 to 1, as vLLM's `kv_cache_usage_perc`: cached blocks nobody holds count as free. */
  get usage(): number {
    return (this.#numBlocks - this.#empty.length - this.#evictable.size) / this.#numBlocks
  }

  /**
   * Takes the blocks for a prompt, reusing cached ones, and reserves the rest of
   * `totalTokens`; null (and nothing changed) when the cache cannot hold them.
   */
  allocate(prompt: readonly string[], totalTokens: number): KvAllocation | null {
    const hashes = blockHashes(prompt, this.#blockSize)
    // The last prompt token is always computed, to produce the first output token, so a
    // prompt that is all cached still leaves its last block to prefill (as in vLLM).
    const lookups = Math.floor(Math.max(0, prompt.length - 1) / this.#blockSize)
    const hits: Block[] = []
    for (const hash of hashes.slice(0, lookups)) {
      const block = this.#cached.get(hash)
      if (!block) break
      hits.push(block)
    }
    const promptBlocks = this.blocksFor(prompt.length)
    const needed = this.blocksFor(totalTokens) - hits.length
    const freeHits = hits.filter((block) => block.refs === 0).length
    if (needed > this.available - freeHits) return null

    for (const block of hits) this.#hold(block)
    const blocks = [...hits]
    const removed: string[] = []
    const stored: KvEvent[] = []
    for (let i = hits.length; i < promptBlocks; i++) {
      const block = this.#take(removed)
      const hash = hashes[i]
      if (hash !== undefined && !this.#cached.has(hash)) {
        block.hash = hash
        this.#cached.set(hash, block)
        if (this.#listener) this.#stored(stored, hash, hashes[i - 1] ?? null)
      }
      blocks.push(block)
    }
    // Removals first: a hash evicted here may be stored again a block later, never the reverse
    // (a block stored here is held, so it cannot be evicted in the same allocation).
    this.#emit([...this.#removedEvents(removed), ...stored])
    const reserved = this.blocksFor(totalTokens) - promptBlocks
    this.#reserved += reserved
    return { blocks, reserved, cachedTokens: hits.length * this.#blockSize }
  }

  /** Grows a sequence to `tokens` tokens, from its reservation. */
  grow(allocation: KvAllocation, tokens: number): void {
    const removed: string[] = []
    while (allocation.blocks.length < this.blocksFor(tokens)) {
      if (allocation.reserved === 0) throw new Error('sequence grew beyond the tokens it reserved')
      allocation.reserved--
      this.#reserved--
      allocation.blocks.push(this.#take(removed))
    }
    this.#emit(this.#removedEvents(removed))
  }

  /** Gives a sequence's blocks back: hashed ones stay cached until evicted. */
  free(allocation: KvAllocation): void {
    this.#reserved -= allocation.reserved
    allocation.reserved = 0
    // Last blocks first: when blocks are evicted, the tail of a prefix goes before its head.
    for (const block of allocation.blocks.splice(0).reverse()) {
      block.refs--
      if (block.refs > 0) continue
      if (block.hash === null) this.#empty.push(block)
      else this.#evictable.set(block.hash, block)
    }
  }

  /**
   * Forgets every cached block, as vLLM's `reset_prefix_cache`, which likewise refuses (false,
   * nothing changed) while a sequence holds blocks.
   */
  reset(): boolean {
    if (this.#empty.length + this.#evictable.size < this.#numBlocks) return false
    for (const block of this.#evictable.values()) {
      block.hash = null
      this.#empty.push(block)
    }
    this.#evictable.clear()
    this.#cached.clear()
    this.#emit([{ type: 'AllBlocksCleared' }])
    return true
  }

  #hold(block: Block): void {
    if (block.refs === 0 && block.hash !== null) this.#evictable.delete(block.hash)
    block.refs++
  }

  /** A free block: an empty one if there is any, else the least recently used cached one, whose hash goes to `removed`. */
  #take(removed: string[]): Block {
    let block = this.#empty.pop()
    if (!block) {
      const oldest = this.#evictable.values().next()
      if (oldest.done) throw new Error('no free KV cache block')
      block = oldest.value
      this.#evictable.delete(block.hash!)
      this.#cached.delete(block.hash!)
      if (this.#listener) removed.push(block.hash!)
      block.hash = null
    }
    block.refs = 1
    return block
  }

  /** Adds a stored hash to the events: to the last BlockStored if it continues its chain, else in a new one. */
  #stored(events: KvEvent[], hash: string, parent: string | null): void {
    const last = events.at(-1)
    if (last?.type === 'BlockStored' && last.block_hashes.at(-1) === parent) last.block_hashes.push(hash)
    else
      events.push({ type: 'BlockStored', block_hashes: [hash], parent_block_hash: parent, block_size: this.#blockSize })
  }

  #removedEvents(removed: string[]): KvEvent[] {
    return removed.length > 0 ? [{ type: 'BlockRemoved', block_hashes: removed }] : []
  }

  #emit(events: KvEvent[]): void {
    if (this.#listener && events.length > 0) this.#listener(events)
  }
}
