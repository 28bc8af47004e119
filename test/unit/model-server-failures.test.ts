import { describe, expect, it } from 'vitest'
import {
  FailureInjector,
  failureDelayMs,
  failureError,
  failureTable,
  failureTypes,
} from '../../workloads/model-server/failures.ts'
import { toOpenAIError } from '../../workloads/shared/errors.ts'

function replay(...values: number[]) {
  let i = 0
  return () => values[i++ % values.length]!
}

describe('model-server failure injection', () => {
  it('maps every failure type to an OpenAI-shaped error with its status', () => {
    expect(failureTypes).toEqual(
      expect.arrayContaining(['rate_limit', 'server_error', 'service_unavailable', 'timeout', 'bad_request']),
    )
    const statuses = Object.fromEntries(
      failureTypes.map((type) => [type, toOpenAIError(failureError(type, 'm')).statusCode]),
    )
    expect(statuses).toMatchObject({
      rate_limit: 429,
      bad_request: 400,
      server_error: 500,
      service_unavailable: 503,
      timeout: 504,
    })
    for (const type of failureTypes) {
      const { body } = toOpenAIError(failureError(type, 'lab-model'))
      expect(body.error).toEqual({
        message: expect.stringContaining('injected'),
        type: expect.any(String),
        param: null,
        code: failureTable[type].code,
      })
    }
  })

  it('delays only a timeout', () => {
    expect(failureDelayMs('timeout')).toBeGreaterThan(0)
    expect(failureDelayMs('server_error')).toBe(0)
  })

  it('fails the share of requests the rate says, picking among the configured types', () => {
    const injector = new FailureInjector({ rate: 0.5, types: ['rate_limit', 'server_error'] }, replay(0.4, 0.7, 0.6))
    expect(injector.pick()).toBe('server_error') // 0.4 < 0.5 fails; 0.7 picks the second type
    expect(injector.pick()).toBeNull() // 0.6 ≥ 0.5 passes
  })

  it('picks among every type when none are configured', () => {
    const injector = new FailureInjector({ rate: 1, types: [] }, replay(0, 0.99))
    expect(injector.pick()).toBe(failureTypes.at(-1))
  })

  it('never fails, and never draws, at rate 0', () => {
    let draws = 0
    const injector = new FailureInjector({ rate: 0, types: [] }, () => (draws++, 0))
    expect(injector.pick()).toBeNull()
    expect(draws).toBe(0)
  })

  it('changes its settings at runtime, keeping a copy', () => {
    const injector = new FailureInjector({ rate: 0, types: [] }, replay(0))
    const types: ('server_error' | 'timeout')[] = ['server_error']
    injector.settings = { rate: 1, types }
    types.push('timeout')
    expect(injector.settings).toEqual({ rate: 1, types: ['server_error'] })
    expect(injector.pick()).toBe('server_error')
  })
})
