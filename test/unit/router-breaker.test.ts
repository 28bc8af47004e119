// The circuit breaker per backend and the outlier detection that opens it, on a fake clock.
import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from '../../workloads/router/breaker.ts'
import type { BreakerState } from '../../workloads/router/breaker.ts'
import { OutlierDetector, ejectionMs } from '../../workloads/router/outlier.ts'

const settings = { consecutiveErrors: 3, baseEjectionMs: 1000, maxEjectionMs: 3500 }

function setup(probes = 2) {
  const clock = { now: 0 }
  const now = () => clock.now
  const changes: string[] = []
  const outlier = new OutlierDetector(settings, now)
  const breaker = new CircuitBreaker(outlier, {
    probes,
    now,
    onChange: (from: BreakerState, to: BreakerState) => changes.push(`${from}→${to}`),
  })
  /** One request through the breaker that succeeds or fails. */
  const call = (ok: boolean) => {
    const permit = breaker.acquire()
    if (!permit) return false
    if (ok) breaker.success(permit)
    else breaker.failure(permit)
    return true
  }
  return { clock, breaker, outlier, changes, call }
}

describe('outlier ejection backoff', () => {
  it('lasts base × the number of ejections, capped', () => {
    expect([1, 2, 3, 4, 10].map((n) => ejectionMs(n, settings))).toEqual([1000, 2000, 3000, 3500, 3500])
  })

  it('ejects after consecutive errors only: a success in between starts the count again', () => {
    const outlier = new OutlierDetector(settings, () => 0)
    expect([outlier.failure(), outlier.failure()]).toEqual([false, false])
    outlier.success()
    expect([outlier.failure(), outlier.failure(), outlier.failure()]).toEqual([false, false, true])
  })

  it('ejects for longer each time, and forgets one ejection per base period without one', () => {
    const clock = { now: 0 }
    const outlier = new OutlierDetector(settings, () => clock.now)
    expect(outlier.eject()).toBe(1000) // ends at 1000
    clock.now = 1500
    expect(outlier.eject()).toBe(2000) // 500 ms after the last ended: counts as the second; ends at 3500
    clock.now = 3600
    expect(outlier.eject()).toBe(3000) // ends at 6600
    clock.now = 6600 + 2 * 1000 // two clean base periods: two ejections forgotten
    expect(outlier.eject()).toBe(2000)
    clock.now = 100_000
    expect(outlier.eject()).toBe(1000)
  })
})

describe('circuit breaker state machine', () => {
  it('stays closed through failures that are not consecutive', () => {
    const { breaker, call } = setup()
    for (const ok of [false, false, true, false, false, true]) call(ok)
    expect(breaker.state).toBe('closed')
  })

  it('opens after consecutive errors and lets nothing through while open', () => {
    const { breaker, call, changes, clock } = setup()
    for (let i = 0; i < 3; i++) call(false)
    expect(breaker.state).toBe('open')
    expect(breaker.openUntil).toBe(1000)
    expect(breaker.available).toBe(false)
    expect(breaker.acquire()).toBeNull()
    clock.now = 999
    expect(breaker.state).toBe('open')
    expect(changes).toEqual(['closed→open'])
  })

  it('turns half-open after the ejection time and lets only `probes` requests through at once', () => {
    const { breaker, call, clock } = setup(2)
    for (let i = 0; i < 3; i++) call(false)
    clock.now = 1000
    expect(breaker.state).toBe('half-open')
    expect(breaker.openUntil).toBeNull()
    const first = breaker.acquire()
    const second = breaker.acquire()
    expect([first?.probe, second?.probe]).toEqual([true, true])
    expect(breaker.acquire()).toBeNull()
    breaker.release(first!) // a client that went away frees its slot, deciding nothing
    expect(breaker.state).toBe('half-open')
    expect(breaker.acquire()).not.toBeNull()
  })

  it('closes when every probe succeeds', () => {
    const { breaker, call, clock, changes } = setup(2)
    for (let i = 0; i < 3; i++) call(false)
    clock.now = 1000
    expect(call(true)).toBe(true)
    expect(breaker.state).toBe('half-open')
    expect(call(true)).toBe(true)
    expect(breaker.state).toBe('closed')
    expect(changes).toEqual(['closed→open', 'open→half-open', 'half-open→closed'])
  })

  it('opens again at the first failed probe, for a longer ejection', () => {
    const { breaker, call, clock } = setup(2)
    for (let i = 0; i < 3; i++) call(false)
    clock.now = 1000
    call(true)
    call(false)
    expect(breaker.state).toBe('open')
    expect(breaker.openUntil).toBe(1000 + 2000)
  })

  it('does not count a request sent before the breaker opened as a probe', () => {
    const { breaker, call, clock } = setup(1)
    const early = breaker.acquire()!
    for (let i = 0; i < 3; i++) call(false)
    clock.now = 1000
    expect(breaker.state).toBe('half-open')
    breaker.success(early) // answered late, from before the ejection
    expect(breaker.state).toBe('half-open')
    breaker.failure(early)
    expect(breaker.state).toBe('half-open')
    expect(call(true)).toBe(true)
    expect(breaker.state).toBe('closed')
  })
})
