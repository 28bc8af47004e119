import { describe, expect, it } from 'vitest'
import { KvCache } from '../../workloads/model-server/kv-cache.ts'

/** `count` distinct tokens, `t0 t1 …`, optionally with a prefix of their own. */
const tokens = (count: number, prefix = 't') => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

describe('model-server KV cache', () => {
  it('holds ceil(tokens / block size) blocks per sequence, and reports usage as used over total', () => {
    const kv = new KvCache(4, 10)
    const allocation = kv.allocate(tokens(5), 5)!
    expect(allocation.blocks).toHaveLength(2)
    expect(kv.usage).toBeCloseTo(0.2)
    kv.free(allocation)
    expect(kv.usage).toBe(0)
  })

  it('reserves blocks for the answer up front and hands them out as the sequence grows', () => {
    const kv = new KvCache(4, 10)
    const allocation = kv.allocate(tokens(3), 10)!
    expect(allocation.blocks).toHaveLength(1)
    expect(kv.available).toBe(7) // 10 blocks - 1 held - 2 promised
    kv.grow(allocation, 4)
    expect(allocation.blocks).toHaveLength(1)
    kv.grow(allocation, 5)
    kv.grow(allocation, 10)
    expect(allocation.blocks).toHaveLength(3)
    expect(() => kv.grow(allocation, 13)).toThrow(/beyond the tokens it reserved/)
    kv.free(allocation)
    expect(kv.available).toBe(10)
  })

  it('refuses what it cannot hold, changing nothing', () => {
    const kv = new KvCache(4, 4)
    const first = kv.allocate(tokens(4, 'a'), 12)!
    expect(kv.available).toBe(1)
    expect(kv.allocate(tokens(5, 'b'), 5)).toBeNull()
    expect(kv.available).toBe(1)
    expect(kv.usage).toBe(0.25)
    kv.free(first)
    expect(kv.allocate(tokens(5, 'b'), 5)).not.toBeNull()
  })

  it('reuses the full blocks of a cached prefix, counting the hit in tokens', () => {
    const kv = new KvCache(4, 10)
    const first = kv.allocate(tokens(10), 12)!
    expect(first.cachedTokens).toBe(0)
    const firstBlocks = first.blocks.map((block) => block.id)
    kv.free(first)
    // Same first 8 tokens (two full blocks), then different ones.
    const second = kv.allocate([...tokens(8), 'x', 'y', 'z'], 12)!
    expect(second.cachedTokens).toBe(8)
    expect(second.blocks.slice(0, 2).map((block) => block.id)).toEqual(firstBlocks.slice(0, 2))
  })

  it('shares a block only when everything before it matches too (a hash chain)', () => {
    const kv = new KvCache(4, 10)
    kv.free(kv.allocate([...tokens(4, 'a'), ...tokens(4, 'b'), 'end'], 9)!)
    // Block 2 has the same tokens, but block 1 differs: no hit at all.
    expect(kv.allocate([...tokens(4, 'z'), ...tokens(4, 'b'), 'end'], 9)!.cachedTokens).toBe(0)
  })

  it('always leaves the last prompt token to compute, as vLLM does', () => {
    const kv = new KvCache(4, 10)
    kv.free(kv.allocate(tokens(8), 8)!)
    // Both blocks are cached, but the second holds the last token: only the first is a hit.
    expect(kv.allocate(tokens(8), 8)!.cachedTokens).toBe(4)
  })

  it('shares blocks between running sequences without freeing them early', () => {
    const kv = new KvCache(4, 10)
    const a = kv.allocate(tokens(9), 9)!
    const b = kv.allocate(tokens(9), 9)!
    expect(b.cachedTokens).toBe(8)
    expect(kv.usage).toBeCloseTo(0.4) // 3 for a, 1 more for b
    kv.free(a)
    expect(kv.usage).toBeCloseTo(0.3) // the shared blocks are still held by b
    kv.free(b)
    expect(kv.usage).toBe(0)
  })

  it('evicts the least recently used cached blocks when it needs room, the tail of a prefix first', () => {
    const kv = new KvCache(4, 4)
    kv.free(kv.allocate(tokens(9, 'old'), 9)!) // caches 2 full blocks
    kv.free(kv.allocate(tokens(5, 'new'), 5)!) // caches 1 more, uses the last empty block
    expect(kv.available).toBe(4)
    // 2 blocks needed, 1 empty: the oldest cached block goes, the tail of the `old` prefix.
    kv.free(kv.allocate(tokens(8, 'other'), 8)!)
    expect(kv.allocate(tokens(9, 'old'), 9)?.cachedTokens).toBe(4)
  })
})
