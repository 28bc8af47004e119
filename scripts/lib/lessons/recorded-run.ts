// A real passing run of a step, recorded for its lesson by `npm run docs:capture`: the runner's
// `--json` report, with where and when it ran. The lesson shows it as the terminal shows it, by
// rendering the report with the runner's own printer.
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { CheckResult } from '../checks/check.ts'
import { formatEvent, summarize, type Summary } from '../output.ts'
import { repoRoot } from '../project.ts'

export const RUNS_DIR = join(repoRoot, 'docs', 'data', 'runs')

/** What `npm run step NN -- --json` prints on stdout. */
export interface RunReport {
  checks: CheckResult[]
  steps: ({ step?: string } & Summary)[]
  total: Summary
}

export interface RecordedRun {
  step: string
  /** The command that was run, and the cluster it ran on. */
  command: string
  provider: string
  context: string
  kubernetes: string
  /** False on kwok: its nodes run no containers, so `pods` checks are skipped. */
  runsContainers: boolean
  /** When it ran (ISO 8601). */
  at: string
  report: RunReport
}

export const runFile = (step: string) => join(RUNS_DIR, `${step}.json`)

export async function readRecordedRun(step: string, file = runFile(step)): Promise<RecordedRun | undefined> {
  if (!existsSync(file)) return undefined
  return JSON.parse(await readFile(file, 'utf8')) as RecordedRun
}

// The printer colours its output on a terminal; a page shows the text alone.
// eslint-disable-next-line no-control-regex
const withoutColour = (text: string) => text.replace(/\u001b\[\d+m/g, '')

/** The report as the runner prints it: one line per check, then the step's summary line. */
export function runText(run: RecordedRun): string {
  const lines = run.report.checks.map((result) => formatEvent({ kind: 'check', result }))
  lines.push(formatEvent({ kind: 'summary', step: run.step, ...summarize(run.report.checks) }))
  return withoutColour(lines.join('\n'))
}
