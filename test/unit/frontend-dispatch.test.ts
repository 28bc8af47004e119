// Dispatch passes over real queues, loads, KV index and choosers, with stand-in backends: who is
// handed out, in what order, where, and who waits.
import pino from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createChooser } from '../../workloads/frontend/choose.ts'
import { Dispatcher, Ticket } from '../../workloads/frontend/dispatch.ts'
import type { Settlement } from '../../workloads/frontend/dispatch.ts'
import type { Tracked } from '../../workloads/frontend/fleet.ts'
import { KvIndex } from '../../workloads/frontend/kv-index.ts'
import { BackendLoad } from '../../workloads/frontend/load.ts'
import { RequestQueue } from '../../workloads/frontend/queue.ts'

const log = pino({ level: 'silent' })

/** A backend in service whose last scrape said it is idle, with room for `maxNumSeqs`. */
function backend(address: string, maxNumSeqs = 1): Tracked {
  const load = new BackendLoad({
    queueThreshold: 1,
    defaultMaxNumSeqs: maxNumSeqs,
    stalenessMs: 60_000,
    defaultBlockSize: 4,
  })
  load.reported(
    { running: 0, waiting: 0, kvCacheUsage: 0, blockSize: 4, numGpuBlocks: 100, maxNumSeqs, models: [] },
    load.mark(),
  )
  const stand = { address, routable: true, breaker: { acquire: () => ({ probe: false, generation: 0 }) } }
  return { address, backend: stand, load } as unknown as Tracked
}

function setup(options: { backends: Tracked[]; policy?: 'kv' | 'round-robin'; batchWindowMs?: number }) {
  const queue = new RequestQueue<Ticket>({ classes: 3, maxPerClass: 100 })
  const kvIndex = new KvIndex({ ttlMs: 60_000 })
  const chooser = createChooser(options.policy ?? 'kv', { kvIndex, overlapWeight: 1, temperature: 0, log })
  const dispatcher = new Dispatcher({
    queue,
    routable: () => options.backends,
    chooser,
    batchWindowMs: options.batchWindowMs ?? 0,
  })
  const assigned: { name: string; to: string }[] = []
  const outcomes = new Map<string, Settlement['kind']>()
  const submit = (name: string, priority = 0, prompt = name, deadline = Infinity) => {
    const tokens = prompt.split(' ')
    const chain = (size: number) =>
      Array.from({ length: Math.floor(tokens.length / size) }, (_, i) => tokens.slice(0, (i + 1) * size).join(' '))
    const ticket = new Ticket({ sessionKey: null, prompt }, tokens.length, chain)
    void ticket.waiting().then((s) => {
      outcomes.set(name, s.kind)
      if (s.kind === 'assigned') assigned.push({ name, to: s.tracked.address })
    })
    const entry = dispatcher.submit(ticket, priority, deadline)
    return { ticket, entry: entry! }
  }
  return { queue, dispatcher, kvIndex, submit, assigned, outcomes }
}

const settle = () => new Promise((resolve) => setImmediate(resolve))

afterEach(() => {
  vi.useRealTimers()
})

describe('Dispatcher', () => {
  it('hands a request out at once while a backend has room, and holds the rest while all are saturated', async () => {
    const a = backend('a')
    const { submit, assigned, queue } = setup({ backends: [a] })
    submit('first')
    submit('second')
    await settle()
    expect(assigned).toEqual([{ name: 'first', to: 'a' }])
    expect(queue.size).toBe(1)
  })

  it('releases waiting requests in priority order, first in first out within one, as room frees', async () => {
    const a = backend('a')
    const { submit, assigned, dispatcher } = setup({ backends: [a] })
    submit('running')
    submit('low-1', 2)
    submit('high-1', 0)
    submit('mid', 1)
    submit('high-2', 0)
    submit('low-2', 2)
    for (let i = 0; i < 5; i++) {
      a.load.finished(1)
      dispatcher.pass()
    }
    await settle()
    expect(assigned.map((x) => x.name)).toEqual(['running', 'high-1', 'high-2', 'mid', 'low-1', 'low-2'])
  })

  it('never hands out a request whose deadline passed while it waited', async () => {
    const a = backend('a')
    const { submit, outcomes, dispatcher } = setup({ backends: [a] })
    submit('running')
    submit('expires', 0, 'expires', performance.now() + 1)
    submit('waits')
    await new Promise((resolve) => setTimeout(resolve, 5))
    a.load.finished(1)
    dispatcher.pass()
    await settle()
    expect(Object.fromEntries(outcomes)).toEqual({ running: 'assigned', expires: 'expired', waits: 'assigned' })
  })

  it('sends a request put back after a refusal to another backend, and lets later ones use the first', async () => {
    const a = backend('a')
    const b = backend('b')
    const { submit, assigned, dispatcher } = setup({ backends: [a, b], policy: 'round-robin' })
    const { ticket, entry } = submit('refused')
    await settle()
    const first = assigned[0]!.to
    const [tracked, other] = first === 'a' ? [a, b] : [b, a]
    tracked.load.finished(1)
    other.load.dispatched(1) // the other one is busy for now
    ticket.exclude.add(first)
    void ticket
      .waiting()
      .then((s) => s.kind === 'assigned' && assigned.push({ name: 'refused again', to: s.tracked.address }))
    dispatcher.requeue(entry)
    submit('later')
    await settle()
    // The refused one waits for the other backend; the later one takes the first.
    expect(assigned.slice(1)).toEqual([{ name: 'later', to: first }])
    other.load.finished(1)
    dispatcher.pass()
    await settle()
    expect(assigned.at(-1)).toEqual({ name: 'refused again', to: other.address })
  })

  it('sends a refused request back to the one backend there is, rather than letting it wait for none', async () => {
    const a = backend('a')
    const { submit, assigned, dispatcher } = setup({ backends: [a] })
    const { ticket, entry } = submit('refused')
    await settle()
    a.load.finished(1)
    ticket.exclude.add('a')
    void ticket
      .waiting()
      .then((s) => s.kind === 'assigned' && assigned.push({ name: 'refused again', to: s.tracked.address }))
    dispatcher.requeue(entry)
    await settle()
    expect(assigned.at(-1)).toEqual({ name: 'refused again', to: 'a' })
  })

  it('with the kv policy, sends requests sharing a prefix after the first, before any event says it is cached', async () => {
    const backends = [backend('a', 10), backend('b', 10), backend('c', 10)]
    const { submit, assigned } = setup({ backends })
    const prefix = 'p1 p2 p3 p4 p5 p6 p7 p8 p9 p10 p11 p12'
    submit('one', 0, `${prefix} first`)
    submit('other', 0, 'q1 q2 q3 q4 q5 q6 q7 q8')
    submit('two', 0, `${prefix} second`)
    submit('three', 0, `${prefix} third`)
    await settle()
    const to = Object.fromEntries(assigned.map((x) => [x.name, x.to]))
    expect(to.two).toBe(to.one)
    expect(to.three).toBe(to.one)
    expect(to.other).not.toBe(to.one)
  })

  it('assigns arrivals within the batch window together, highest priority first', async () => {
    vi.useFakeTimers()
    const a = backend('a')
    const b = backend('b')
    const { submit, assigned } = setup({ backends: [a, b], policy: 'round-robin', batchWindowMs: 5 })
    submit('low', 2)
    submit('mid', 1)
    vi.advanceTimersByTime(3)
    submit('high', 0)
    expect(assigned).toEqual([])
    vi.advanceTimersByTime(2)
    await vi.runAllTimersAsync()
    // Two backends with room for one each: the two best of the three, in priority order.
    expect(assigned.map((x) => x.name)).toEqual(['high', 'mid'])
  })
})
