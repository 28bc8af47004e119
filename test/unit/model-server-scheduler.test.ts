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

  it('orders the waiting queue by priority, lower first, then by arrival, under the priority policy', () => {
    const scheduler = new Scheduler({ maxNumSeqs: 1, maxWaitingRequests: 10 }, new KvCache(16, 100), 'priority')
    const running = scheduler.submit([sequence('r', 4, 8)], 5)![0]!
    const submit = (name: string, priority: number) =>
      [name, scheduler.submit([sequence(name, 4, 8)], priority)![0]!] as const
    const waiting = [
      submit('low', 5),
      submit('urgent', -1),
      submit('normal', 0),
      submit('low2', 5),
      submit('normal2', 0),
    ]
    const order: string[] = []
    scheduler.release(running)
    while (order.length < waiting.length) {
      const [name, ticket] = waiting.find(([, t]) => t.state === 'running')!
      order.push(name)
      scheduler.release(ticket)
    }
    expect(order).toEqual(['urgent', 'normal', 'normal2', 'low', 'low2'])
  })

  it('keeps arrival order whatever the priorities under fcfs', () => {
    const scheduler = new Scheduler({ maxNumSeqs: 1, maxWaitingRequests: 10 }, new KvCache(16, 100), 'fcfs')
    const running = scheduler.submit([sequence('r', 4, 8)])![0]!
    const first = scheduler.submit([sequence('a', 4, 8)], 9)![0]!
    const second = scheduler.submit([sequence('b', 4, 8)], -9)![0]!
    scheduler.release(running)
    expect([first.state, second.state]).toEqual(['running', 'waiting'])
  })

  it('makes an urgent request wait for a slot, preempting nothing, then run before the others', () => {
    const scheduler = new Scheduler({ maxNumSeqs: 1, maxWaitingRequests: 10 }, new KvCache(16, 100), 'priority')
    const running = scheduler.submit([sequence('r', 4, 8)], 10)![0]!
    const low = scheduler.submit([sequence('l', 4, 8)], 10)![0]!
    const urgent = scheduler.submit([sequence('u', 4, 8)], -10)![0]!
    expect([running.state, low.state, urgent.state]).toEqual(['running', 'waiting', 'waiting'])
    scheduler.release(running)
    expect([low.state, urgent.state]).toEqual(['waiting', 'running'])
  })

  it('lets the head of a priority queue wait for its blocks, and those behind it too', () => {
    const kv = new KvCache(4, 4)
    const scheduler = new Scheduler({ maxNumSeqs: 10, maxWaitingRequests: 10 }, kv, 'priority')
    const big = scheduler.submit([sequence('a', 4, 12)], 0)![0]! // 3 of 4 blocks
    const small = scheduler.submit([sequence('c', 2, 4)], 1)![0]! // needs 1: fits, runs at once
    const blocked = scheduler.submit([sequence('b', 4, 8)], 0)![0]! // needs 2
    const later = scheduler.submit([sequence('d', 2, 4)], 1)![0]! // needs 1, behind the blocked head
    expect([big.state, small.state, blocked.state, later.state]).toEqual(['running', 'running', 'waiting', 'waiting'])
    scheduler.release(small)
    expect([blocked.state, later.state]).toEqual(['waiting', 'waiting'])
    scheduler.release(big)
    expect([blocked.state, later.state]).toEqual(['running', 'running'])
  })
})
