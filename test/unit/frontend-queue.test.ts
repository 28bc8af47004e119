// The frontend's queue: strict priority, first in first out within a class, a bound per class,
// and a deadline after which a request is never handed out.
import { describe, expect, it } from 'vitest'
import { RequestQueue } from '../../workloads/frontend/queue.ts'
import type { Waiting } from '../../workloads/frontend/queue.ts'

function queue(options: { classes?: number; maxPerClass?: number } = {}) {
  let now = 0
  const q = new RequestQueue<string>({
    classes: options.classes ?? 3,
    maxPerClass: options.maxPerClass ?? 100,
    now: () => now,
  })
  return { q, at: (ms: number) => (now = ms) }
}

/** Takes everything in order, as a dispatch pass with room for all would; returns what was taken and what expired. */
function drain(q: RequestQueue<string>) {
  const taken: string[] = []
  const expired: string[] = []
  for (const entry of q.inOrder((e) => expired.push(e.item))) {
    q.remove(entry)
    taken.push(entry.item)
  }
  return { taken, expired }
}

describe('RequestQueue', () => {
  it('serves class 0 first, then 1, then 2, first in first out within each', () => {
    const { q } = queue()
    const arrivals: [string, number][] = [
      ['c1', 2],
      ['b1', 1],
      ['a1', 0],
      ['c2', 2],
      ['a2', 0],
      ['b2', 1],
      ['a3', 0],
    ]
    for (const [item, priority] of arrivals) expect(q.add(item, priority, Infinity)).not.toBeNull()
    expect(q.size).toBe(7)
    expect(drain(q).taken).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'c1', 'c2'])
    expect(q.size).toBe(0)
  })

  it('refuses one more than the bound of a class, and only in that class', () => {
    const { q } = queue({ maxPerClass: 2 })
    expect(q.add('a', 1, Infinity)).not.toBeNull()
    expect(q.add('b', 1, Infinity)).not.toBeNull()
    expect(q.add('c', 1, Infinity)).toBeNull()
    expect(q.add('d', 0, Infinity)).not.toBeNull()
    expect(q.sizeOf(1)).toBe(2)
    expect(q.sizeOf(0)).toBe(1)
    // Room again once one leaves.
    const [first] = [...q.inOrder(() => {})]
    q.remove(first!)
    expect(q.add('e', 0, Infinity)).not.toBeNull()
  })

  it('refuses a priority outside its classes', () => {
    const { q } = queue({ classes: 2 })
    expect(q.add('x', 2, Infinity)).toBeNull()
    expect(q.add('y', -1, Infinity)).toBeNull()
    expect(q.size).toBe(0)
  })

  it('never hands out a request past its deadline: it is reported as expired instead, once', () => {
    const { q, at } = queue()
    q.add('soon', 0, 10)
    q.add('later', 0, 100)
    q.add('low', 2, 50)
    at(10)
    const first = drain(q)
    expect(first).toEqual({ taken: ['later', 'low'], expired: ['soon'] })
    expect(drain(q)).toEqual({ taken: [], expired: [] })
  })

  it('drops an expired request met on the way, even when the walk stops right after', () => {
    const { q, at } = queue()
    q.add('head', 0, 10)
    q.add('next', 0, 100)
    at(20)
    const expired: string[] = []
    for (const entry of q.inOrder((e) => expired.push(e.item))) {
      expect(entry.item).toBe('next')
      break
    }
    expect(expired).toEqual(['head'])
    expect(q.size).toBe(1)
  })

  it('removes a cancelled request from anywhere in its line, exactly once', () => {
    const { q } = queue()
    const entries = ['a', 'b', 'c', 'd'].map((item) => q.add(item, 1, Infinity)!)
    expect(q.remove(entries[2]!)).toBe(true)
    expect(q.remove(entries[2]!)).toBe(false)
    expect(q.remove(entries[0]!)).toBe(true)
    expect(q.has(entries[1]!)).toBe(true)
    expect(drain(q).taken).toEqual(['b', 'd'])
  })

  it('puts a request back at the front of its class, ahead of later arrivals and past the bound', () => {
    const { q } = queue({ maxPerClass: 2 })
    const a = q.add('a', 1, Infinity)!
    q.add('b', 1, Infinity)
    q.remove(a)
    q.add('c', 1, Infinity)
    q.putBack(a)
    expect(q.sizeOf(1)).toBe(3)
    expect(drain(q).taken).toEqual(['a', 'b', 'c'])
  })

  it('lets the walker take the request it was given and go on to the next', () => {
    const { q } = queue()
    const order: string[] = []
    for (const item of ['a', 'b', 'c']) q.add(item, 0, Infinity)
    let kept: Waiting<string> | undefined
    for (const entry of q.inOrder(() => {})) {
      order.push(entry.item)
      if (entry.item === 'b') kept = entry
      else q.remove(entry)
    }
    expect(order).toEqual(['a', 'b', 'c'])
    expect(q.size).toBe(1)
    expect(q.has(kept!)).toBe(true)
  })
})
