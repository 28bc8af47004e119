import { describe, expect, it } from 'vitest'
import {
  sameServingData,
  servingKeys,
  validateServingConfig,
  workloadOf,
} from '../../workloads/coordinator/serving-config.ts'

describe('the serving configuration', () => {
  it('accepts no keys (every default) and valid keys, sorted and trimmed', () => {
    expect(validateServingConfig({})).toEqual({ valid: true, data: {} })
    expect(validateServingConfig({ policy: 'round-robin\n', 'max-num-seqs': ' 8 ', 'load-slowdown': '0.25' })).toEqual({
      valid: true,
      data: { 'load-slowdown': '0.25', 'max-num-seqs': '8', policy: 'round-robin' },
    })
  })

  it('takes only flags of the workload that applies them', () => {
    expect(workloadOf('max-num-seqs')).toBe('model-server')
    expect(workloadOf('policy')).toBe('router')
    expect(servingKeys).toContain('inter-token-latency-ms')
  })

  it.each([
    [{ 'max-num-seqs': '0' }, 'max-num-seqs must be an integer at least 1 (got 0), as the model-server requires'],
    [{ 'max-num-seqs': 'many' }, 'max-num-seqs must be an integer, got "many"'],
    [{ 'load-slowdown': '-1' }, 'load-slowdown must be a number at least 0 (got -1), as the model-server requires'],
    [
      { policy: 'random' },
      'policy must be one of round-robin, least-outstanding, session-affinity, prefix-aware (got random), as the router requires',
    ],
    [{ 'max-retries': '11' }, 'max-retries must be an integer from 0 to 10 (got 11), as the router requires'],
    [
      { 'retry-budget-percent': '101' },
      'retry-budget-percent must be a number from 0 to 100 (got 101), as the router requires',
    ],
    [{ 'max-model-len': '10' }, 'unknown key "max-model-len": the serving configuration takes'],
  ])('refuses %j, naming the key and the rule', (data, message) => {
    const result = validateServingConfig(data)
    expect(result.valid).toBe(false)
    if (!result.valid) expect(result.errors).toEqual([expect.stringContaining(message)])
  })

  it('reports every broken rule at once', () => {
    const result = validateServingConfig({ 'max-num-seqs': '0', policy: 'random', extra: 'x' })
    expect(result.valid).toBe(false)
    if (!result.valid) expect(result.errors).toHaveLength(3)
  })

  it('compares versions by keys and values, not by order', () => {
    expect(sameServingData({ a: '1', b: '2' }, { b: '2', a: '1' })).toBe(true)
    expect(sameServingData({ a: '1' }, { a: '2' })).toBe(false)
    expect(sameServingData({ a: '1' }, {})).toBe(false)
  })
})
