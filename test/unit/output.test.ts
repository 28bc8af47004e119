import { afterEach, describe, expect, it, vi } from 'vitest'
import type { CheckResult } from '../../scripts/lib/checks/check.ts'
import { createPrinter, formatCheck, summarize, summaryLine } from '../../scripts/lib/output.ts'

const passed: CheckResult = {
  id: 'pods-exist',
  title: 'pods exist',
  needs: 'api',
  status: 'passed',
  attempts: 1,
  durationMs: 5,
}
const failed: CheckResult = {
  id: 'ranks-differ',
  title: 'ranks differ',
  needs: 'api',
  status: 'failed',
  expected: 'two nodes',
  seen: 'one node',
  hint: 'add anti-affinity',
  attempts: 3,
  durationMs: 9,
}
const skipped: CheckResult = {
  id: 'dns-resolves',
  title: 'DNS resolves',
  needs: 'pods',
  status: 'skipped',
  reason: 'no containers',
  attempts: 0,
  durationMs: 0,
}

afterEach(() => vi.restoreAllMocks())

describe('output', () => {
  it('the summary line CI reads', () => {
    expect(summaryLine(summarize([passed, failed, skipped, passed]))).toBe('2 passed, 1 failed, 1 skipped')
  })

  it('a failed check shows expected, seen and hint', () => {
    const text = formatCheck(failed)
    expect(text).toContain('ranks differ')
    expect(text).toMatch(/expected: two nodes\n.*seen: {5}one node\n.*hint: {5}add anti-affinity/)
  })

  it('a passed check shows what it measured, if anything', () => {
    expect(formatCheck(passed)).toMatch(/pods exist$/)
    expect(formatCheck({ ...passed, detail: '2 Ready 35 s after the burst' })).toContain(
      '(2 Ready 35 s after the burst)',
    )
  })

  it('--json prints one report on stdout and progress on stderr', () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const printer = createPrinter(true)
    printer.emit({ kind: 'phase', phase: 'applying' })
    for (const result of [passed, failed, skipped]) printer.emit({ kind: 'check', result })
    printer.emit({ kind: 'summary', step: '01', passed: 1, failed: 1, skipped: 1 })
    printer.finish()
    expect(stderr).toHaveBeenCalledOnce()
    const report = JSON.parse(String(stdout.mock.calls[0]![0]))
    expect(report.total).toEqual({ passed: 1, failed: 1, skipped: 1 })
    expect(report.steps).toEqual([{ step: '01', passed: 1, failed: 1, skipped: 1 }])
    expect(report.checks[1]).toMatchObject({ status: 'failed', hint: 'add anti-affinity' })
  })
})
