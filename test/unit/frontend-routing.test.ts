// The frontend's routing arithmetic: Dynamo's cost against hand-computed cases, sampling with a
// temperature, and the KV index fed by snapshots, events and predictions.
import { describe, expect, it } from 'vitest'
import { kvCost, pickByCost } from '../../workloads/frontend/cost.ts'
import { KvIndex } from '../../workloads/frontend/kv-index.ts'

describe('kvCost (Dynamo: weight × prefill blocks + decode blocks)', () => {
  it('charges the whole prompt as prefill when nothing is cached', () => {
    // 100 tokens in blocks of 16: 6.25 blocks to prefill; 10 active + ceil(100/16) = 7 of its own.
    expect(kvCost({ promptTokens: 100, overlapBlocks: 0, blockSize: 16, activeBlocks: 10 }, 1)).toEqual({
      prefillBlocks: 6.25,
      decodeBlocks: 17,
      cost: 23.25,
    })
  })

  it('takes the cached blocks off the prefill and off the blocks it adds, and weighs the prefill', () => {
    // 4 of the 7 blocks cached: (100 − 64) / 16 = 2.25 left to prefill, 3 blocks added; weight 2.
    expect(kvCost({ promptTokens: 100, overlapBlocks: 4, blockSize: 16, activeBlocks: 10 }, 2)).toEqual({
      prefillBlocks: 2.25,
      decodeBlocks: 13,
      cost: 17.5,
    })
    expect(kvCost({ promptTokens: 32, overlapBlocks: 2, blockSize: 16, activeBlocks: 0 }, 1).cost).toBe(0)
  })

  it('prefers a loaded backend holding the prefix only while the overlap outweighs the load', () => {
    const cached = (active: number) =>
      kvCost({ promptTokens: 320, overlapBlocks: 20, blockSize: 16, activeBlocks: active }, 1).cost
    const cold = kvCost({ promptTokens: 320, overlapBlocks: 0, blockSize: 16, activeBlocks: 0 }, 1).cost
    expect(cached(10)).toBeLessThan(cold) // 0 + 10 + 0 < 20 + 0 + 20
    expect(cached(50)).toBeGreaterThan(cold) // 0 + 50 + 0 > 40
    // A weight of 0 leaves only the decode term: 25 active blocks lose to 20 new ones.
    const weightless = (overlapBlocks: number, activeBlocks: number) =>
      kvCost({ promptTokens: 320, overlapBlocks, blockSize: 16, activeBlocks }, 0).cost
    expect(weightless(20, 25)).toBeGreaterThan(weightless(0, 0))
  })
})

describe('pickByCost', () => {
  it('picks the lowest cost at temperature 0, the first among equals', () => {
    expect(pickByCost([5, 3, 4], 0)).toBe(1)
    expect(pickByCost([2, 7, 2], 0)).toBe(0)
  })

  it('samples by a softmax over the normalised negated costs above 0', () => {
    const draws = (temperature: number) => {
      let seed = 1
      const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
      const counts = [0, 0]
      for (let i = 0; i < 4000; i++) counts[pickByCost([10, 20], temperature, random)]!++
      return counts[0]! / 4000
    }
    // p(best) = 1 / (1 + e^(−1/T)): 0.73 at T = 1, 0.52 at T = 10.
    expect(draws(1)).toBeCloseTo(1 / (1 + Math.exp(-1)), 1)
    expect(draws(10)).toBeCloseTo(1 / (1 + Math.exp(-0.1)), 1)
    expect(pickByCost([3, 3], 1, () => 0.99)).toBe(1)
  })

  it('refuses an empty list', () => {
    expect(() => pickByCost([], 0)).toThrow(RangeError)
  })
})

describe('KvIndex', () => {
  const chain = ['h1', 'h2', 'h3', 'h4']

  function index(ttlMs = 1000) {
    let now = 0
    return { kv: new KvIndex({ ttlMs, now: () => now }), at: (ms: number) => (now = ms) }
  }

  it('counts the leading blocks of the chain a backend holds, stopping at the first it lacks', () => {
    const { kv } = index()
    kv.stored('a', ['h1', 'h2', 'h4'])
    kv.stored('b', ['h2', 'h3'])
    expect(kv.overlap('a', chain)).toBe(2)
    expect(kv.overlap('b', chain)).toBe(0)
    expect(kv.overlap('c', chain)).toBe(0)
  })

  it('replaces everything known of a backend with its snapshot, and takes its block size', () => {
    const { kv } = index()
    kv.stored('a', ['h1', 'h2', 'h3'])
    kv.replace('a', ['h1'], 32)
    expect(kv.overlap('a', chain)).toBe(1)
    expect(kv.storedCount('a')).toBe(1)
    expect(kv.blockSizeOf('a')).toBe(32)
  })

  it('forgets removed blocks, and all of a backend on AllBlocksCleared', () => {
    const { kv } = index()
    kv.stored('a', chain)
    kv.removed('a', ['h2'])
    expect(kv.overlap('a', chain)).toBe(1)
    kv.cleared('a')
    expect(kv.overlap('a', chain)).toBe(0)
  })

  it('counts predicted blocks until their time ends, and an event overrides a prediction', () => {
    const { kv, at } = index(1000)
    kv.predict('a', ['h1', 'h2'])
    expect(kv.overlap('a', chain)).toBe(2)
    kv.removed('a', ['h2'])
    expect(kv.overlap('a', chain)).toBe(1)
    at(999)
    expect(kv.overlap('a', chain)).toBe(1)
    at(1000)
    expect(kv.overlap('a', chain)).toBe(0)
    // Stored blocks do not expire.
    kv.stored('a', ['h1'])
    at(1_000_000)
    expect(kv.overlap('a', chain)).toBe(1)
  })

  it('drops a backend that left discovery whole, predictions included', () => {
    const { kv } = index()
    kv.stored('a', ['h1'])
    kv.predict('a', ['h1', 'h2'])
    kv.stored('b', ['h1'])
    kv.drop('a')
    expect(kv.overlap('a', chain)).toBe(0)
    expect(kv.backends).toEqual(['b'])
  })

  it('predicts nothing with a TTL of 0', () => {
    const { kv } = index(0)
    kv.predict('a', chain)
    expect(kv.overlap('a', chain)).toBe(0)
  })
})
