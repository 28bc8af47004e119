import { describe, expect, it } from 'vitest'
import { HealthState } from '../../workloads/router/health-state.ts'

describe('active health check thresholds', () => {
  const record = (state: HealthState, results: boolean[]) =>
    results.map((passed) => (state.record(passed), state.healthy))

  it('starts unhealthy and needs one pass to turn healthy the first time', () => {
    const state = new HealthState({ healthyThreshold: 3, unhealthyThreshold: 2 })
    expect(state.healthy).toBe(false)
    expect(record(state, [false, false, true])).toEqual([false, false, true])
  })

  it('turns unhealthy after the unhealthy threshold of failures in a row, not before', () => {
    const state = new HealthState({ healthyThreshold: 2, unhealthyThreshold: 3 })
    record(state, [true])
    expect(record(state, [false, false, true, false, false, false])).toEqual([true, true, true, true, true, false])
  })

  it('turns healthy again after the healthy threshold of passes in a row', () => {
    const state = new HealthState({ healthyThreshold: 2, unhealthyThreshold: 1 })
    record(state, [true, false])
    expect(record(state, [true, false, true, true])).toEqual([false, false, false, true])
  })

  it('says when the verdict changed', () => {
    const state = new HealthState({ healthyThreshold: 1, unhealthyThreshold: 1 })
    expect([state.record(false), state.record(true), state.record(true), state.record(false)]).toEqual([
      false,
      true,
      false,
      true,
    ])
  })
})
