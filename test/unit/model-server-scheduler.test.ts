import { describe, expect, it } from 'vitest'
import { KvCache } from '../../workloads/model-server/kv-cache.ts'
import { Scheduler } from '../../workloads/model-server/scheduler.ts'

const sequence = (name: string, promptTokens: number, totalTokens: number) => ({
  prompt: Array.from({ length: promptTokens }, (_, i) => `${name}${i}`),
  totalTokens,
})

describe('model-server scheduler', () => {
  it('runs up to max-num-seqs at once and queues the rest, first in first out', () => {
    const scheduler = new Scheduler({ maxNumSeqs: 2, maxWaitingRequests: 10 }, new KvCache(16, 100))
    const tickets = ['a', 'b', 'c', 'd'].map((name) => scheduler.submit([sequence(name, 4, 8)])![0]!)
    expect(tickets.map((t) => t.state)).toEqual(['running', 'running', 'waiting', 'waiting'])
    expect([scheduler.running, scheduler.waiting]).toEqual([2, 2])
    scheduler.release(tickets[1]!)
    expect(tickets.map((t) => t.state)).toEqual(['running', 'done', 'running', 'waiting'])
  })

  it('follows limits changed in place: more may run at once, fewer may wait', () => {
    const limits = { maxNumSeqs: 1, maxWaitingRequests: 10 }
    const scheduler = new Scheduler(limits, new KvCache(16, 100))
    const tickets = ['a', 'b', 'c'].map((name) => scheduler.submit([sequence(name, 4, 8)])![0]!)
    expect(tickets.map((t) => t.state)).toEqual(['running', 'waiting', 'waiting'])
    limits.maxNumSeqs = 2
    scheduler.limitsChanged()
    expect(tickets.map((t) => t.state)).toEqual(['running', 'running', 'waiting'])
    limits.maxWaitingRequests = 1
    expect(scheduler.submit([sequence('d', 4, 8)])).toBeNull()
  })

  it('turns a request away when the waiting queue is full, counting what starts at once', () => {
    const scheduler = new Scheduler({ maxNumSeqs: 1, maxWaitingRequests: 1 }, new KvCache(16, 100))
    expect(scheduler.submit([sequence('a', 4, 8)])).not.toBeNull() // runs
    expect(scheduler.submit([sequence('b', 4, 8)])).not.toBeNull() // waits
    expect(scheduler.submit([sequence('c', 4, 8)])).toBeNull()
    expect([scheduler.running, scheduler.waiting]).toEqual([1, 1])
  })

  it('takes all sequences of one request or none', () => {
    const scheduler = new Scheduler({ maxNumSeqs: 1, maxWaitingRequests: 2 }, new KvCache(16, 100))
    expect(
      scheduler.submit([sequence('a', 4, 8), sequence('b', 4, 8), sequence('c', 4, 8), sequence('d', 4, 8)]),
    ).toBeNull()
    expect([scheduler.running, scheduler.waiting]).toEqual([0, 0])
    expect(scheduler.submit([sequence('a', 4, 8), sequence('b', 4, 8), sequence('c', 4, 8)])).toHaveLength(3)
  })

  it('makes the head of the queue wait for KV blocks, and those behind it too', () => {
    const kv = new KvCache(4, 4)
    const scheduler = new Scheduler({ maxNumSeqs: 10, maxWaitingRequests: 10 }, kv)
    const big = scheduler.submit([sequence('a', 4, 12)])![0]! // 3 of 4 blocks
    const blocked = scheduler.submit([sequence('b', 4, 8)])![0]! // needs 2
    const small = scheduler.submit([sequence('c', 2, 4)])![0]! // needs 1, but waits its turn
    expect([big.state, blocked.state, small.state]).toEqual(['running', 'waiting', 'waiting'])
    scheduler.release(big)
    expect([blocked.state, small.state]).toEqual(['running', 'running'])
  })

  it('resolves a ticket once admitted, with what the prefix cache held', async () => {
    const scheduler = new Scheduler({ maxNumSeqs: 1, maxWaitingRequests: 1 }, new KvCache(4, 100))
    const first = scheduler.submit([sequence('p', 9, 10)])![0]!
    expect((await first.admitted).cachedTokens).toBe(0)
    const second = scheduler.submit([sequence('p', 9, 10)])![0]!
    scheduler.release(first)
    expect((await second.admitted).cachedTokens).toBe(8)
  })

  it('takes a waiting sequence out of the queue when it is released before it ran', () => {
    const scheduler = new Scheduler({ maxNumSeqs: 1, maxWaitingRequests: 5 }, new KvCache(16, 100))
    const running = scheduler.submit([sequence('a', 4, 8)])![0]!
    const waiting = scheduler.submit([sequence('b', 4, 8)])![0]!
    scheduler.release(waiting)
    expect([scheduler.running, scheduler.waiting, waiting.state]).toEqual([1, 0, 'done'])
    scheduler.release(running)
    scheduler.release(running) // twice is harmless
    expect([scheduler.running, scheduler.waiting]).toEqual([0, 0])
  })
})
