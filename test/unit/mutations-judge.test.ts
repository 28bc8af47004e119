import { describe, expect, it } from 'vitest'
import type { CheckResult, CheckStatus } from '../../scripts/lib/checks/check.ts'
import { checksToRun, judge, missingWords, mutationNeeds } from '../../scripts/lib/mutations/judge.ts'
import type { Mutation } from '../../scripts/lib/mutations/mutations-file.ts'

const result = (id: string, status: CheckStatus, hint?: string): CheckResult => ({
  id,
  title: id,
  needs: id.startsWith('dns') ? 'pods' : 'api',
  status,
  ...(status === 'failed' ? { expected: 'x', seen: 'y', hint: hint ?? 'no idea' } : {}),
  attempts: 1,
  durationMs: 1,
})
const baseline = [
  result('headless', 'passed'),
  result('service-name', 'passed'),
  result('endpoints', 'passed'),
  result('dns-names', 'skipped'),
]
const mutation = (overrides: Partial<Mutation> = {}): Mutation => ({
  name: 'service-name-mismatch',
  why: 'why',
  patch: [],
  expect: 'checks',
  fails: ['service-name', 'dns-names'],
  mayAlsoFail: [],
  hint: ['serviceName', 'DELETE statefulset'],
  ...overrides,
})
const mutated = (...changes: CheckResult[]) => ({
  applied: true as const,
  results: baseline.map((r) => changes.find((c) => c.id === r.id) ?? r),
})
const GOOD_HINT = 'serviceName names no Service: kubectl delete statefulset llama'

describe('judge', () => {
  it('caught: the named check failed with the hint words (any case), a pods check skipped as on the baseline, the rest unchanged', () => {
    expect(judge(mutation(), baseline, mutated(result('service-name', 'failed', GOOD_HINT)))).toEqual({
      status: 'caught',
      by: 'checks',
      problems: [],
    })
  })

  it('missed when the named check passed', () => {
    expect(judge(mutation(), baseline, mutated())).toEqual({
      status: 'missed',
      problems: ["'service-name' passed; expected it to fail"],
    })
  })

  it('missed when the hint does not name the cause', () => {
    const verdict = judge(mutation(), baseline, mutated(result('service-name', 'failed', 'serviceName is wrong')))
    expect(verdict.problems).toEqual([
      `'service-name' failed, but its hint lacks 'DELETE statefulset': "serviceName is wrong"`,
    ])
  })

  it('missed when another check changed its verdict, unless it may fail as a knock-on effect', () => {
    const results = mutated(result('service-name', 'failed', GOOD_HINT), result('endpoints', 'failed', 'selector'))
    expect(judge(mutation(), baseline, results)).toEqual({
      status: 'missed',
      problems: ["'endpoints' failed (it passed on the unmutated step): seen y; hint: selector"],
    })
    expect(judge(mutation({ mayAlsoFail: ['endpoints'] }), baseline, results).status).toBe('caught')
  })

  it('missed when a later check in fails ran and passed', () => {
    const withDns = {
      applied: true as const,
      results: [
        ...mutated(result('service-name', 'failed', GOOD_HINT)).results.filter((r) => r.id !== 'dns-names'),
        result('dns-names', 'passed'),
      ],
    }
    expect(
      judge(
        mutation(),
        baseline.map((r) => (r.id === 'dns-names' ? result('dns-names', 'passed') : r)),
        withDns,
      ).problems,
    ).toEqual(["'dns-names' passed; expected it to fail"])
  })

  it('missed when the API server refused a mutation the checks should catch', () => {
    expect(judge(mutation(), baseline, { applied: false, error: 'Invalid: spec.serviceName' }).problems[0]).toContain(
      'use expect: rejected',
    )
  })

  it('a refusal is caught by the API server only when its error has the words', () => {
    const refused = mutation({ expect: 'rejected', fails: [], hint: ['Limit must be set'] })
    expect(
      judge(refused, baseline, {
        applied: false,
        error: 'limits: Required value: Limit must be set for non overcommitable resources',
      }),
    ).toEqual({ status: 'caught', by: 'api-server', problems: [] })
    expect(judge(refused, baseline, { applied: false, error: 'forbidden' }).status).toBe('missed')
    expect(judge(refused, baseline, mutated()).problems).toEqual([
      'the API server accepted the mutated step; expected it to refuse it',
    ])
  })
})

describe('mutationNeeds', () => {
  const checks = [
    { id: 'service-name', needs: 'api' as const },
    { id: 'dns-names', needs: 'pods' as const },
  ]
  it('is the needs of the first check in fails, or what the mutation says, or api for a refusal', () => {
    expect(mutationNeeds(mutation(), checks)).toBe('api')
    expect(mutationNeeds(mutation({ fails: ['dns-names'] }), checks)).toBe('pods')
    expect(mutationNeeds(mutation({ needs: 'pods' }), checks)).toBe('pods')
    expect(mutationNeeds(mutation({ expect: 'rejected', fails: [] }), checks)).toBe('api')
  })
})

describe('missingWords', () => {
  it('compares case-insensitively', () => {
    expect(missingWords('Set publishNotReadyAddresses: true', ['publishnotreadyaddresses', 'false'])).toEqual(['false'])
  })
})

describe('checksToRun', () => {
  const ids = (checks: { id: string }[]) => checks.map((c) => c.id)
  const checks = ['pod-names', 'created-in-order', 'replacement', 'random-names', 'serves', 'reforms'].map((id) => ({
    id,
  }))

  it('runs every check when none may also fail', () => {
    expect(ids(checksToRun(mutation({ fails: ['pod-names'] }), checks))).toEqual(ids(checks))
  })

  it('leaves out the unjudged checks after the last judged one, and keeps those between judged ones', () => {
    const m = mutation({ fails: ['pod-names'], mayAlsoFail: ['created-in-order', 'replacement', 'serves', 'reforms'] })
    expect(ids(checksToRun(m, checks))).toEqual(['pod-names', 'created-in-order', 'replacement', 'random-names'])
  })

  it('judges the same whether the left-out checks ran or not', () => {
    const m = mutation({ fails: ['service-name'], mayAlsoFail: ['endpoints', 'dns-names'] })
    const run = checksToRun(m, baseline)
    expect(ids(run)).toEqual(['headless', 'service-name'])
    const failed = result('service-name', 'failed', GOOD_HINT)
    const all = judge(m, baseline, mutated(failed, result('endpoints', 'failed'), result('dns-names', 'failed')))
    const some = judge(m, baseline, { applied: true, results: run.map((r) => (r.id === failed.id ? failed : r)) })
    expect(some).toEqual(all)
    expect(some.status).toBe('caught')
  })
})
