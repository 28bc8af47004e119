import { afterEach, describe, expect, it, vi } from 'vitest'
import type { MutationResult } from '../../scripts/lib/mutations/report.ts'
import { countMutations, suitePassed } from '../../scripts/lib/mutations/report.ts'
import { createPrinter, formatMutation, mutationSummaryLine } from '../../scripts/lib/output.ts'

const caught: MutationResult = {
  name: 'pdb-blocks-every-eviction',
  status: 'caught',
  needs: 'api',
  by: 'checks',
  problems: [],
  message: 'Use minAvailable: 1',
  durationMs: 12_300,
}
const missed: MutationResult = {
  name: 'rbac-without-watch',
  status: 'missed',
  needs: 'api',
  problems: ["'least-privilege' passed; expected it to fail"],
  durationMs: 9_000,
}
const skipped: MutationResult = {
  name: 'port-without-name',
  status: 'skipped',
  needs: 'pods',
  reason: 'this cluster runs no containers',
  problems: [],
  durationMs: 0,
}

afterEach(() => vi.restoreAllMocks())

describe('mutation events', () => {
  it('one line per mutation; a missed one lists what went wrong', () => {
    expect(formatMutation(caught)).toContain('✔ pdb-blocks-every-eviction caught')
    expect(formatMutation(skipped)).toContain('(skipped: this cluster runs no containers)')
    expect(formatMutation(missed)).toMatch(/✘ rbac-without-watch missed.*\n {6}'least-privilege' passed/)
  })

  it('counts and the closing line', () => {
    const counts = countMutations([caught, missed, skipped])
    expect(counts).toEqual({ listed: 3, caught: 1, missed: 1, skipped: 1 })
    expect(mutationSummaryLine(counts)).toBe('1 of 3 mutations caught, 1 missed, 1 skipped')
  })

  it('the suite passes only with every runnable mutation caught and the unmutated steps passing', () => {
    const step = (mutations: MutationResult[], passed = true) => ({
      step: '04',
      folder: '04-router',
      baseline: { passed, checks: [] },
      mutations,
    })
    expect(suitePassed([step([caught, skipped])])).toBe(true)
    expect(suitePassed([step([caught, missed])])).toBe(false)
    expect(suitePassed([step([caught], false)])).toBe(false)
  })

  it('--json adds the mutations and their counts to the report', () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const printer = createPrinter(true)
    printer.emit({ kind: 'mutation', step: '04', result: caught })
    printer.emit({ kind: 'mutation-summary', step: '04', ...countMutations([caught]) })
    printer.finish()
    const report = JSON.parse(String(stdout.mock.calls[0]![0]))
    expect(report.mutations).toEqual([{ step: '04', ...caught }])
    expect(report.mutationSteps).toEqual([{ step: '04', listed: 1, caught: 1, missed: 0, skipped: 0 }])
  })
})
