import { describe, expect, it } from 'vitest'
import { RetryBudget } from '../../workloads/router/retry-budget.ts'

describe('retry budget', () => {
  const setup = (minRetries = 0) => {
    const clock = { now: 0 }
    return { clock, budget: new RetryBudget({ percent: 20, minRetries, windowMs: 10_000 }, () => clock.now) }
  }
  const retriesAllowed = (budget: RetryBudget) => {
    let allowed = 0
    while (allowed < 1000 && budget.tryRetry()) allowed++
    return allowed
  }

  it('allows retries up to the share of recent requests', () => {
    const { budget } = setup()
    for (let i = 0; i < 100; i++) budget.request()
    expect(retriesAllowed(budget)).toBe(20)
  })

  it('grows with more requests after the budget was spent', () => {
    const { budget } = setup()
    for (let i = 0; i < 10; i++) budget.request()
    expect(retriesAllowed(budget)).toBe(2)
    for (let i = 0; i < 10; i++) budget.request()
    expect(retriesAllowed(budget)).toBe(2)
  })

  it('always allows the floor, so a quiet router can still retry', () => {
    const { budget } = setup(3)
    budget.request()
    expect(retriesAllowed(budget)).toBe(3)
  })

  it('forgets requests and retries older than the window', () => {
    const { budget, clock } = setup()
    for (let i = 0; i < 100; i++) budget.request()
    expect(retriesAllowed(budget)).toBe(20)
    clock.now = 5_000
    for (let i = 0; i < 50; i++) budget.request()
    expect(retriesAllowed(budget)).toBe(10) // 150 requests and 20 retries in the window: 30 allowed
    clock.now = 10_500
    for (let i = 0; i < 50; i++) budget.request()
    expect(retriesAllowed(budget)).toBe(10) // the first 100 and their 20 retries fell out: 100 requests, 10 retries
    clock.now = 30_000
    expect(retriesAllowed(budget)).toBe(0)
  })

  it('takes a new percentage at once, keeping what the window counted', () => {
    const { budget } = setup()
    for (let i = 0; i < 100; i++) budget.request()
    expect(retriesAllowed(budget)).toBe(20)
    budget.setPercent(50)
    expect(retriesAllowed(budget)).toBe(30)
  })
})
