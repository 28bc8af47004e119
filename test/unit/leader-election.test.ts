// The leader election's pure rules: timings validated as client-go does, and a Lease held
// only while its record keeps changing by the candidate's own clock.
import { KubeConfig } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../workloads/shared/config.ts'
import {
  defaultTimings,
  LeaderElector,
  LeaseObservation,
  validateTimings,
  type LeaseRecord,
} from '../../workloads/shared/leader-election.ts'

describe('leader election timings', () => {
  it('accepts client-go’s defaults, 15 s, 10 s and 2 s', () => {
    expect(defaultTimings).toEqual({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })
    expect(() => validateTimings(defaultTimings)).not.toThrow()
  })

  it.each([
    [
      { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
      'leaseDurationMs must be greater than renewDeadlineMs',
    ],
    [
      { leaseDurationMs: 15_000, renewDeadlineMs: 2_400, retryPeriodMs: 2_000 },
      'renewDeadlineMs must be greater than 1.2 × retryPeriodMs',
    ],
    [
      { leaseDurationMs: 15_500, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
      'leaseDurationMs must be whole seconds',
    ],
    [{ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 }, 'retryPeriodMs must be a positive number'],
    [
      { leaseDurationMs: 15_000, renewDeadlineMs: Number.NaN, retryPeriodMs: 2_000 },
      'renewDeadlineMs must be a positive number',
    ],
  ])('refuses %o, naming the field', (timings, message) => {
    expect(() => validateTimings(timings)).toThrow(ConfigError)
    expect(() => validateTimings(timings)).toThrow(message)
  })

  it('the elector refuses them before it touches the API server', () => {
    const elector = () =>
      new LeaderElector({
        kubeConfig: new KubeConfig(),
        namespace: 'default',
        name: 'lease',
        identity: 'a',
        leaseDurationMs: 10_000,
        log: { info: () => {}, warn: () => {}, debug: () => {} },
        callbacks: { onStartedLeading: () => {}, onStoppedLeading: () => {} },
      })
    expect(elector).toThrow('leaseDurationMs must be greater than renewDeadlineMs (got 10000 and 10000)')
  })

  it('reports every broken rule at once', () => {
    expect(() => validateTimings({ leaseDurationMs: 2000, renewDeadlineMs: 2000, retryPeriodMs: 2000 })).toThrow(
      /leaseDurationMs must be greater.*; renewDeadlineMs must be greater/,
    )
  })
})

describe('a candidate’s observation of the Lease', () => {
  const record = (changes: Partial<LeaseRecord> = {}): LeaseRecord => ({
    holderIdentity: 'a',
    leaseDurationSeconds: 3,
    renewTime: '2026-01-01T00:00:00.000000Z',
    leaseTransitions: 0,
    resourceVersion: '1',
    ...changes,
  })

  it('holds the Lease for its duration from the first sighting, however old its renewTime looks', () => {
    const seen = new LeaseObservation(15_000)
    seen.observe(record(), 100_000)
    expect(seen.heldByAnother('b', 102_999)).toBe(true)
    expect(seen.heldByAnother('b', 103_000)).toBe(false)
  })

  it('restarts the wait only when the record changes', () => {
    const seen = new LeaseObservation(15_000)
    seen.observe(record(), 0)
    seen.observe(record(), 2_000)
    expect(seen.heldByAnother('b', 3_000)).toBe(false)
    seen.observe(record({ resourceVersion: '2', renewTime: '2026-01-01T00:00:02.000000Z' }), 3_500)
    expect(seen.heldByAnother('b', 6_000)).toBe(true)
    expect(seen.heldByAnother('b', 6_500)).toBe(false)
  })

  it('is free when released, and never held against its own holder', () => {
    const seen = new LeaseObservation(15_000)
    seen.observe(record(), 0)
    expect(seen.heldByAnother('a', 1)).toBe(false)
    seen.observe(record({ holderIdentity: '', resourceVersion: '2', leaseDurationSeconds: 1 }), 10)
    expect(seen.heldByAnother('b', 11)).toBe(false)
  })

  it('falls back to its own duration when the record has none', () => {
    const seen = new LeaseObservation(15_000)
    seen.observe(record({ leaseDurationSeconds: 0 }), 0)
    expect(seen.heldByAnother('b', 14_999)).toBe(true)
    expect(seen.heldByAnother('b', 15_000)).toBe(false)
  })
})
