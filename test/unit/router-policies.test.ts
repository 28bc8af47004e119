// Every routing policy through one contract, then what each one promises on its own.
import { describe, expect, it } from 'vitest'
import { HashRing } from '../../workloads/router/policies/hash-ring.ts'
import { createPolicy, policies } from '../../workloads/router/policies/index.ts'
import { leastOutstanding } from '../../workloads/router/policies/least-outstanding.ts'
import { policyNames } from '../../workloads/router/policies/policy.ts'
import type { Candidate, Policy, RouteRequest } from '../../workloads/router/policies/policy.ts'
import { prefixAware } from '../../workloads/router/policies/prefix-aware.ts'
import { roundRobin } from '../../workloads/router/policies/round-robin.ts'
import { sessionAffinity } from '../../workloads/router/policies/session-affinity.ts'

interface TestBackend extends Candidate {
  outstanding: number
}

const backends = (n: number, outstanding: number[] = []): TestBackend[] =>
  Array.from({ length: n }, (_, i) => ({ address: `10.0.0.${i + 1}:8000`, outstanding: outstanding[i] ?? 0 }))

const plain: RouteRequest = { sessionKey: null, prompt: null }
/** Requests of every shape a policy reads: with and without a session, with and without a prompt. */
const requests: RouteRequest[] = Array.from({ length: 60 }, (_, i) => ({
  sessionKey: i % 3 === 0 ? null : `session-${i % 7}`,
  prompt: i % 4 === 0 ? null : `You are a helpful assistant. `.repeat(5) + `Question ${i % 5}`,
}))

describe.each(policyNames)('routing policy contract: %s', (name) => {
  const make = () => createPolicy(name)

  it('is created by its name and reports it', () => {
    expect(make().name).toBe(name)
    expect(Object.keys(policies).sort()).toEqual([...policyNames].sort())
  })

  it('picks only among the candidates, returning the very object it was given', () => {
    const policy = make()
    const candidates = backends(4, [3, 0, 1, 2])
    for (const request of requests) expect(candidates).toContain(policy.pick(candidates, request))
  })

  it('picks the one candidate when there is only one', () => {
    const policy = make()
    const [only] = backends(1, [50])
    for (const request of requests) expect(policy.pick([only!], request)).toBe(only)
  })

  it('refuses an empty list of candidates', () => {
    expect(() => make().pick([], plain)).toThrow(RangeError)
  })

  it('never picks a backend that left, and picks one that joined', () => {
    const policy = make()
    const all = backends(3)
    for (const request of requests) policy.pick(all, request)
    const without = [all[0]!, all[2]!]
    for (const request of requests) expect(policy.pick(without, request)).not.toBe(all[1])
    const joined = [...all, { address: '10.0.0.9:8000', outstanding: 0 }]
    const picked = new Set(
      Array.from({ length: 200 }, (_, i) => policy.pick(joined, { sessionKey: `s${i}`, prompt: `p${i}` }).address),
    )
    expect(picked).toContain('10.0.0.9:8000')
  })

  it('leaves the candidates as they were', () => {
    const candidates = backends(3, [1, 2, 3])
    const before = structuredClone(candidates)
    const policy = make()
    for (const request of requests) policy.pick(candidates, request)
    expect(candidates).toEqual(before)
  })
})

describe('round robin', () => {
  it('spreads requests evenly, in turn', () => {
    const policy = roundRobin()
    const candidates = backends(3)
    const counts = new Map<string, number>()
    const order = Array.from({ length: 300 }, () => policy.pick(candidates, plain).address)
    for (const address of order) counts.set(address, (counts.get(address) ?? 0) + 1)
    expect([...counts.values()]).toEqual([100, 100, 100])
    expect(order.slice(0, 4)).toEqual(['10.0.0.1:8000', '10.0.0.2:8000', '10.0.0.3:8000', '10.0.0.1:8000'])
  })
})

describe('least outstanding', () => {
  it('picks the backend with the fewest requests in flight', () => {
    const policy = leastOutstanding()
    expect(policy.pick(backends(4, [5, 2, 7, 3]), plain).address).toBe('10.0.0.2:8000')
  })

  it('keeps picking the least loaded as load builds up, so the load stays level', () => {
    const policy = leastOutstanding()
    const candidates = backends(3, [4, 0, 2])
    for (let i = 0; i < 9; i++) policy.pick(candidates, plain).outstanding++
    expect(candidates.map((c) => c.outstanding)).toEqual([5, 5, 5])
  })

  it('takes turns among equally loaded backends', () => {
    const policy = leastOutstanding()
    const candidates = backends(3)
    expect(new Set(Array.from({ length: 3 }, () => policy.pick(candidates, plain).address)).size).toBe(3)
  })
})

describe('session affinity (consistent hashing)', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`)
  const owners = (policy: Policy, candidates: TestBackend[]) =>
    keys.map((key) => policy.pick(candidates, { sessionKey: key, prompt: null }).address)

  it('sends every request of a session to the same backend, whatever the load', () => {
    const policy = sessionAffinity()
    const candidates = backends(3)
    const first = policy.pick(candidates, { sessionKey: 'conversation-42', prompt: null })
    first.outstanding = 100
    for (let i = 0; i < 20; i++)
      expect(policy.pick(candidates, { sessionKey: 'conversation-42', prompt: 'more' })).toBe(first)
  })

  it('moves at most about 1/n of the keys when a backend joins, all of them to the new one', () => {
    const policy = sessionAffinity()
    const before = owners(policy, backends(4))
    const after = owners(policy, backends(5))
    const moved = keys.filter((_, i) => before[i] !== after[i])
    expect(moved.length / keys.length).toBeLessThanOrEqual(1.5 / 5)
    expect(moved.length / keys.length).toBeGreaterThan(0.5 / 5)
    expect(new Set(moved.map((key) => after[keys.indexOf(key)]))).toEqual(new Set(['10.0.0.5:8000']))
  })

  it('moves only the keys of a backend that leaves', () => {
    const policy = sessionAffinity()
    const all = backends(5)
    const before = owners(policy, all)
    const after = owners(
      policy,
      all.filter((b) => b.address !== '10.0.0.3:8000'),
    )
    keys.forEach((_, i) => {
      if (before[i] !== '10.0.0.3:8000') expect(after[i]).toBe(before[i])
    })
  })

  it('keeps every key where it was while the backends stay the same, and shares them out evenly', () => {
    const policy = sessionAffinity()
    const candidates = backends(4)
    const first = owners(policy, candidates)
    expect(owners(sessionAffinity(), candidates)).toEqual(first)
    for (const address of candidates.map((c) => c.address)) {
      const share = first.filter((owner) => owner === address).length / keys.length
      expect(share).toBeGreaterThan(0.25 * 0.7)
      expect(share).toBeLessThan(0.25 * 1.3)
    }
  })

  it('falls back to the least loaded backend without a session key', () => {
    expect(sessionAffinity().pick(backends(3, [4, 1, 6]), plain).address).toBe('10.0.0.2:8000')
  })

  it('builds the same ring whatever the order of the nodes', () => {
    const a = new HashRing(['x:1', 'y:1', 'z:1'])
    const b = new HashRing(['z:1', 'x:1', 'y:1'])
    expect(keys.slice(0, 500).map((k) => a.nodeFor(k))).toEqual(keys.slice(0, 500).map((k) => b.nodeFor(k)))
    expect(new HashRing([]).nodeFor('key')).toBeUndefined()
  })
})

describe('prefix-aware', () => {
  const system = 'You are a careful assistant who answers questions about Kubernetes in two sentences. '
  const blockChars = 16
  const request = (prompt: string): RouteRequest => ({ sessionKey: null, prompt })

  it('sends a prompt to the backend that served the longest common prefix', () => {
    const policy = prefixAware({ blockChars })
    const candidates = backends(3)
    const [a, b] = [candidates[0]!, candidates[1]!]
    // Teach it: the first prompt lands on a (all idle, a is first); then b is the least loaded.
    expect(policy.pick(candidates, request(system + 'What is a Pod?'))).toBe(a)
    a.outstanding = 1
    expect(policy.pick(candidates, request('A completely different prompt about GPUs and their memory.'))).toBe(b)
    b.outstanding = 1
    // c is now the least loaded, but a holds the shared system prompt.
    expect(policy.pick(candidates, request(system + 'What is a Service?'))).toBe(a)
    expect(
      policy.pick(candidates, request('A completely different prompt about GPUs and their memory, and NVLink.')),
    ).toBe(b)
  })

  it('prefers the longer of two matches', () => {
    const policy = prefixAware({ blockChars })
    const candidates = backends(2)
    const [a, b] = [candidates[0]!, candidates[1]!]
    policy.pick([a], request(system))
    policy.pick([b], request(system + 'Consider the following StatefulSet manifest and its headless Service. '))
    expect(
      policy.pick(candidates, request(system + 'Consider the following StatefulSet manifest and its volumes.')),
    ).toBe(b)
    expect(policy.pick(candidates, request(system + 'Something else entirely, for the rest of this prompt.'))).toBe(a)
  })

  it('leaves the match for the least loaded when its load exceeds the guard', () => {
    const policy = prefixAware({ blockChars, loadFactor: 2 })
    const candidates = backends(2)
    const [a, b] = [candidates[0]!, candidates[1]!]
    policy.pick([a], request(system))
    a.outstanding = 2 // 2 ≤ 2 × max(1, 0): still within the guard
    expect(policy.pick(candidates, request(system + 'one'))).toBe(a)
    a.outstanding = 3 // 3 > 2 × 1
    expect(policy.pick(candidates, request(system + 'two'))).toBe(b)
  })

  it('measures the guard against the least loaded backend, so a busy cluster keeps its matches', () => {
    const policy = prefixAware({ blockChars, loadFactor: 2 })
    const candidates = backends(2, [3, 2])
    const [a, b] = [candidates[0]!, candidates[1]!]
    policy.pick([a], request(system))
    expect(policy.pick(candidates, request(system + 'three'))).toBe(a) // 3 ≤ 2 × 2
    a.outstanding = 5
    expect(policy.pick(candidates, request(system + 'four'))).toBe(b) // 5 > 2 × 2
  })

  it('goes to the least loaded for a prompt shorter than a block or without a prompt', () => {
    const policy = prefixAware({ blockChars })
    const candidates = backends(3, [2, 1, 3])
    expect(policy.pick(candidates, request('short'))).toBe(candidates[1])
    expect(policy.pick(candidates, plain)).toBe(candidates[1])
  })

  it('remembers a bounded number of blocks per backend', () => {
    const policy = prefixAware({ blockChars: 4, blocksPerBackend: 10 })
    const [only] = backends(1)
    policy.pick([only!], request('abcd'.repeat(50)))
    const candidates = [only!, { address: '10.0.0.2:8000', outstanding: 0 }]
    // The oldest blocks (the start of the prompt) were forgotten: no match, so the least loaded, taking turns.
    only!.outstanding = 1
    expect(policy.pick(candidates, request('abcd'.repeat(50))).address).toBe('10.0.0.2:8000')
  })
})
