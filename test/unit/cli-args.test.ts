import { describe, expect, it } from 'vitest'
import { parseArgs } from '../../scripts/lib/args.ts'
import { EnvironmentError } from '../../scripts/lib/errors.ts'
import { resolveTarget } from '../../scripts/lib/target.ts'

describe('parseArgs', () => {
  it('reads the step, --no-apply, --reset, --json and string options', () => {
    const args = parseArgs(
      ['03', '--no-apply', '--reset', '--json', '--provider', 'kwok'],
      ['apply', 'reset', 'json', 'provider'],
    )
    expect(args).toMatchObject({ _: ['03'], apply: false, reset: true, json: true, provider: 'kwok' })
    expect(parseArgs(['1'], ['apply']).apply).toBe(true)
  })

  it('answers an option the command does not take with what it does take', () => {
    expect(() => parseArgs(['--bogus'], ['json'])).toThrow(EnvironmentError)
    expect(() => parseArgs(['--bogus'], ['json'])).toThrow(/unknown option --bogus; this command takes: --json/)
  })

  it('requires a value for string options', () => {
    expect(() => parseArgs(['--context'], ['context'])).toThrow(/--context needs a value/)
  })
})

describe('parseArgs: the mutation suite options', () => {
  it('takes --step and --record with their values, and refuses them without one', () => {
    expect(parseArgs(['--step', '03', '--record=out.json'], ['step', 'record'])).toMatchObject({
      step: '03',
      record: 'out.json',
    })
    expect(() => parseArgs(['--record'], ['record'])).toThrow(/--record needs a value/)
    expect(() => parseArgs(['--step', '03'], ['json'])).toThrow(/unknown option --step/)
  })
})

describe('resolveTarget', () => {
  it("uses the provider's own context, never the current one", () => {
    expect(resolveTarget({})).toMatchObject({ context: 'kind-serving-lab', explicitContext: false })
    expect(resolveTarget({ provider: 'kwok' })).toMatchObject({ context: 'kwok-serving-lab', cluster: 'serving-lab' })
  })

  it('takes a context only when it is named, and marks it as not the lab’s to create', () => {
    expect(resolveTarget({ context: 'kwok-other' })).toMatchObject({
      context: 'kwok-other',
      cluster: 'other',
      explicitContext: true,
    })
    expect(resolveTarget({ context: 'prod-east' }).explicitContext).toBe(true)
  })

  it('knows the kind provider by its context prefix', () => {
    expect(resolveTarget({ context: 'kind-ci' })).toMatchObject({ cluster: 'ci', explicitContext: true })
    expect(resolveTarget({ context: 'kind-ci' }).provider.name).toBe('kind')
  })

  it('no longer knows the retired nodes provider', () => {
    expect(() => resolveTarget({ provider: 'nodes' })).toThrow(/unknown provider 'nodes': choose one of kind, kwok$/)
  })

  it('rejects an unknown provider', () => {
    expect(() => resolveTarget({ provider: 'minikube' })).toThrow(
      /unknown provider 'minikube': choose one of kind, kwok/,
    )
  })
})
