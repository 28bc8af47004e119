import { setImmediate as nextTurn } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { blockHashes } from '../../workloads/shared/block-hashes.ts'
import { KvCache } from '../../workloads/model-server/kv-cache.ts'
import type { KvEvent } from '../../workloads/model-server/kv-cache.ts'
import { KvEventPublisher } from '../../workloads/model-server/kv-events.ts'
import type { KvEventSubscriber } from '../../workloads/model-server/kv-events.ts'

/** `count` distinct tokens, `t0 t1 …`, optionally with a prefix of their own. */
const tokens = (count: number, prefix = 't') => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

/** A cache whose events are recorded, one array per call of the listener. */
function recordedCache(blockSize: number, numBlocks: number) {
  const kv = new KvCache(blockSize, numBlocks)
  const calls: KvEvent[][] = []
  kv.listen((events) => calls.push(events))
  return { kv, calls }
}

describe('model-server KV cache events', () => {
  it("stores a prompt's full blocks in one event, chained from no parent, with the shared hashes", () => {
    const { kv, calls } = recordedCache(4, 10)
    const prompt = tokens(10)
    kv.allocate(prompt, 12)
    expect(calls).toEqual([
      [{ type: 'BlockStored', block_hashes: blockHashes(prompt, 4), parent_block_hash: null, block_size: 4 }],
    ])
  })

  it('stores only the blocks past a cached prefix, with the last cached block as their parent', () => {
    const { kv, calls } = recordedCache(4, 10)
    kv.free(kv.allocate(tokens(8), 8)!)
    calls.length = 0
    const longer = [...tokens(8), ...tokens(8, 'more'), 'end']
    kv.allocate(longer, 17)
    const hashes = blockHashes(longer, 4)
    expect(calls).toEqual([
      [{ type: 'BlockStored', block_hashes: hashes.slice(2), parent_block_hash: hashes[1], block_size: 4 }],
    ])
  })

  it('stores nothing for a prompt whose blocks are all cached', () => {
    const { kv, calls } = recordedCache(4, 10)
    kv.free(kv.allocate(tokens(9), 9)!)
    calls.length = 0
    kv.free(kv.allocate(tokens(9), 9)!)
    expect(calls).toEqual([])
  })

  it('removes evicted blocks in one event, before storing the blocks that took their place', () => {
    const { kv, calls } = recordedCache(4, 4)
    const old = tokens(12, 'old')
    kv.free(kv.allocate(old, 12)!) // 3 cached blocks, 1 empty
    calls.length = 0
    const other = tokens(12, 'other')
    kv.allocate(other, 12) // 1 empty block, then 2 evicted: the tail of `old` first
    const oldHashes = blockHashes(old, 4)
    expect(calls).toEqual([
      [
        { type: 'BlockRemoved', block_hashes: [oldHashes[2], oldHashes[1]] },
        { type: 'BlockStored', block_hashes: blockHashes(other, 4), parent_block_hash: null, block_size: 4 },
      ],
    ])
  })

  it('removes a block evicted for an answer growing', () => {
    const { kv, calls } = recordedCache(4, 3)
    const old = tokens(8, 'old')
    kv.free(kv.allocate(old, 8)!) // 2 cached blocks, 1 empty
    const growing = kv.allocate(['x'], 9)! // takes the empty block, reserves 2
    calls.length = 0
    kv.grow(growing, 5)
    expect(calls).toEqual([[{ type: 'BlockRemoved', block_hashes: [blockHashes(old, 4)[1]] }]])
  })

  it('clears everything on reset, but only when no sequence holds a block', () => {
    const { kv, calls } = recordedCache(4, 10)
    const held = kv.allocate(tokens(8), 8)!
    calls.length = 0
    expect(kv.reset()).toBe(false)
    expect(calls).toEqual([])
    kv.free(held)
    expect(kv.reset()).toBe(true)
    expect(calls).toEqual([[{ type: 'AllBlocksCleared' }]])
    expect(kv.cachedHashes()).toEqual([])
    expect(kv.allocate(tokens(8), 8)!.cachedTokens).toBe(0)
    expect(kv.available).toBe(8)
  })

  it('lists every cached block, held or not, as its snapshot', () => {
    const kv = new KvCache(4, 10)
    const a = tokens(8, 'a')
    const b = tokens(4, 'b')
    kv.free(kv.allocate(a, 8)!)
    kv.allocate(b, 4)
    expect(kv.cachedHashes().sort()).toEqual([...blockHashes(a, 4), ...blockHashes(b, 4)].sort())
  })

  it('builds no event when nobody listens', () => {
    const kv = new KvCache(4, 10)
    const calls: KvEvent[][] = []
    kv.listen((events) => calls.push(events))
    kv.listen(null)
    kv.free(kv.allocate(tokens(8), 8)!)
    expect(calls).toEqual([])
  })
})

/** A subscriber that keeps what it is sent, parsed, and can be made to look stuck. */
function fakeSubscriber() {
  const messages: { event: string; data: unknown }[] = []
  const comments: string[] = []
  const state = { buffered: 0, ended: false, dropped: false }
  const subscriber: KvEventSubscriber = {
    write(text) {
      if (text.startsWith(':')) comments.push(text.trim())
      else {
        const [, event, data] = /^event: (\w+)\ndata: (.*)\n\n$/.exec(text)!
        messages.push({ event: event!, data: JSON.parse(data!) })
      }
    },
    bufferedBytes: () => state.buffered,
    end: () => (state.ended = true),
    drop: () => (state.dropped = true),
  }
  return { subscriber, state, messages, comments }
}

const limits = { maxSubscribers: 2, maxBufferedBytes: 1000, keepAliveMs: 60_000 }

describe('model-server KV event publisher', () => {
  it('sends a snapshot of the cache first, then one batch per turn with seq rising by one', async () => {
    const kv = new KvCache(4, 10)
    kv.free(kv.allocate(tokens(4, 'before'), 4)!)
    const publisher = new KvEventPublisher(kv, limits)
    const { subscriber, messages } = fakeSubscriber()
    expect(publisher.subscribe(subscriber)).toBe(true)
    expect(messages).toEqual([
      { event: 'snapshot', data: { seq: 0, blockSize: 4, blocks: blockHashes(tokens(4, 'before'), 4) } },
    ])

    kv.allocate(tokens(4, 'a'), 4)
    kv.allocate(tokens(4, 'b'), 4)
    expect(messages).toHaveLength(1) // nothing until the turn ends
    await nextTurn()
    kv.allocate(tokens(4, 'c'), 4)
    await nextTurn()

    const batches = messages.slice(1) as { event: string; data: { seq: number; ts: number; events: KvEvent[] } }[]
    expect(batches.map((m) => [m.event, m.data.seq, m.data.events.length])).toEqual([
      ['batch', 1, 2],
      ['batch', 2, 1],
    ])
    expect(Math.abs(batches[0]!.data.ts - Date.now() / 1000)).toBeLessThan(60)
  })

  it('gives a later subscriber a snapshot that includes what the first has yet to be sent, under the next seq', async () => {
    const kv = new KvCache(4, 10)
    const publisher = new KvEventPublisher(kv, limits)
    const first = fakeSubscriber()
    publisher.subscribe(first.subscriber)
    kv.allocate(tokens(4, 'a'), 4)
    const second = fakeSubscriber()
    publisher.subscribe(second.subscriber)
    expect(first.messages.map((m) => m.event)).toEqual(['snapshot', 'batch'])
    expect(second.messages).toEqual([
      { event: 'snapshot', data: { seq: 1, blockSize: 4, blocks: blockHashes(tokens(4, 'a'), 4) } },
    ])
    kv.allocate(tokens(4, 'b'), 4)
    await nextTurn()
    expect((second.messages[1]!.data as { seq: number }).seq).toBe(2)
    expect(first.messages).toHaveLength(3)
  })

  it('refuses a subscriber beyond the limit, and takes one again when another leaves', () => {
    const publisher = new KvEventPublisher(new KvCache(4, 10), limits)
    const [a, b, c] = [fakeSubscriber(), fakeSubscriber(), fakeSubscriber()]
    expect(publisher.subscribe(a.subscriber)).toBe(true)
    expect(publisher.subscribe(b.subscriber)).toBe(true)
    expect(publisher.subscribe(c.subscriber)).toBe(false)
    expect(c.messages).toEqual([])
    publisher.unsubscribe(a.subscriber)
    publisher.unsubscribe(a.subscriber)
    expect(publisher.subscribe(c.subscriber)).toBe(true)
    expect(publisher.subscribers).toBe(2)
  })

  it('drops a subscriber whose buffers hold more than the bound, and keeps sending to the others', async () => {
    const kv = new KvCache(4, 10)
    const publisher = new KvEventPublisher(kv, limits)
    const slow = fakeSubscriber()
    const fast = fakeSubscriber()
    publisher.subscribe(slow.subscriber)
    publisher.subscribe(fast.subscriber)
    slow.state.buffered = 1001
    kv.allocate(tokens(4), 4)
    await nextTurn()
    expect(slow.state.dropped).toBe(true)
    expect(slow.messages.map((m) => m.event)).toEqual(['snapshot'])
    expect(fast.messages.map((m) => m.event)).toEqual(['snapshot', 'batch'])
    expect(publisher.subscribers).toBe(1)
  })

  it('stops listening to the cache when the last subscriber leaves', async () => {
    const kv = new KvCache(4, 10)
    const publisher = new KvEventPublisher(kv, limits)
    const { subscriber, messages } = fakeSubscriber()
    publisher.subscribe(subscriber)
    publisher.unsubscribe(subscriber)
    kv.allocate(tokens(4), 4)
    await nextTurn()
    expect(messages.map((m) => m.event)).toEqual(['snapshot'])
    // A new subscriber's snapshot shows the block; seq did not move, since no batch was built.
    const again = fakeSubscriber()
    publisher.subscribe(again.subscriber)
    expect(again.messages[0]!.data).toEqual({ seq: 0, blockSize: 4, blocks: blockHashes(tokens(4), 4) })
  })

  it('ends every stream on shutdown, after sending what was pending', () => {
    const kv = new KvCache(4, 10)
    const publisher = new KvEventPublisher(kv, limits)
    const { subscriber, state, messages } = fakeSubscriber()
    publisher.subscribe(subscriber)
    kv.allocate(tokens(4), 4)
    publisher.endAll()
    expect(messages.map((m) => m.event)).toEqual(['snapshot', 'batch'])
    expect(state.ended).toBe(true)
    expect(publisher.subscribers).toBe(0)
  })

  it('sends a keep-alive comment to idle streams', async () => {
    const publisher = new KvEventPublisher(new KvCache(4, 10), { ...limits, keepAliveMs: 5 })
    const { subscriber, comments } = fakeSubscriber()
    publisher.subscribe(subscriber)
    await new Promise((resolve) => setTimeout(resolve, 50))
    publisher.unsubscribe(subscriber)
    expect(comments.length).toBeGreaterThan(0)
    expect(new Set(comments)).toEqual(new Set([': keep-alive']))
  })
})
