import { createHash } from 'node:crypto'

export interface PrefixMemorySettings {
  /** Characters per block: prompts are compared block by block, as a KV cache stores them. */
  blockChars: number
  /** Blocks remembered per backend; the least recently used are forgotten first. */
  blocksPerBackend: number
  /** Backends remembered; the one used longest ago is forgotten first. */
  maxBackends: number
  /** Only the start of a long prompt is considered. */
  maxPromptChars: number
}

export const defaultPrefixMemorySettings: PrefixMemorySettings = {
  blockChars: 64,
  blocksPerBackend: 8192,
  maxBackends: 256,
  maxPromptChars: 64 * 1024,
}

/**
 * The prompts each backend recently served, as chains of block hashes: the hash of block i
 * covers blocks 0..i, so a prompt matches a backend for as many leading blocks as it shares
 * with some prompt that backend served. This is how vLLM names the blocks of its prefix cache,
 * and how Dynamo's KV router indexes what each worker holds; here the router only guesses what
 * a backend still caches from what it sent there. Bounded: an LRU of blocks per backend and an
 * LRU of backends.
 */
export class PrefixMemory {
  readonly #settings: PrefixMemorySettings
  /** Per backend, block hashes in least-recently-used order (a Map iterates in insertion order). */
  readonly #backends = new Map<string, Map<string, true>>()

  constructor(settings: Partial<PrefixMemorySettings> = {}) {
    this.#settings = { ...defaultPrefixMemorySettings, ...settings }
  }

  /** The hash chain of a prompt's full blocks. */
  blocks(prompt: string): string[] {
    const { blockChars, maxPromptChars } = this.#settings
    const text = prompt.length > maxPromptChars ? prompt.slice(0, maxPromptChars) : prompt
    const hash = createHash('sha1')
    const chain: string[] = []
    for (let start = 0; start + blockChars <= text.length; start += blockChars) {
      hash.update(text.slice(start, start + blockChars))
      chain.push(hash.copy().digest('base64'))
    }
    return chain
  }

  /** How many leading blocks of the chain the backend served recently. */
  matchedBlocks(address: string, chain: readonly string[]): number {
    const blocks = this.#backends.get(address)
    if (!blocks) return 0
    let matched = 0
    while (matched < chain.length && blocks.has(chain[matched]!)) matched++
    return matched
  }

  /** Remembers that the backend served a prompt with this chain. */
  remember(address: string, chain: readonly string[]): void {
    if (chain.length === 0) return
    let blocks = this.#backends.get(address)
    if (blocks) this.#backends.delete(address)
    else blocks = new Map()
    this.#backends.set(address, blocks)
    if (this.#backends.size > this.#settings.maxBackends) this.#backends.delete(this.#backends.keys().next().value!)
    for (const block of chain) {
      blocks.delete(block)
      blocks.set(block, true)
    }
    while (blocks.size > this.#settings.blocksPerBackend) blocks.delete(blocks.keys().next().value!)
  }

  /** Blocks remembered for a backend (for tests and status). */
  size(address: string): number {
    return this.#backends.get(address)?.size ?? 0
  }
}
