import type { CheckResult } from './checks/check.ts'
import type { MutationCounts, MutationResult } from './mutations/report.ts'
import { settings } from './settings.ts'

/**
 * Everything the runner tells its user is one of these events, rendered by one printer:
 * people get lines with colour and progress, machines (`--json`) get one JSON report.
 */
export type LabEvent =
  | { kind: 'phase'; phase: string; detail?: string }
  | { kind: 'progress'; message: string }
  | { kind: 'notice'; level: 'info' | 'warn'; message: string }
  | { kind: 'check'; result: CheckResult }
  | { kind: 'summary'; step?: string; passed: number; failed: number; skipped: number }
  | { kind: 'mutation'; step: string; result: MutationResult }
  | ({ kind: 'mutation-summary'; step?: string } & MutationCounts)

export type EmitEvent = (event: LabEvent) => void

export interface Summary {
  passed: number
  failed: number
  skipped: number
}

export function summarize(results: readonly CheckResult[]): Summary {
  const count = (status: CheckResult['status']) => results.filter((r) => r.status === status).length
  return { passed: count('passed'), failed: count('failed'), skipped: count('skipped') }
}

/** The closing line every runner prints; CI reads it. */
export function summaryLine({ passed, failed, skipped }: Summary): string {
  return `${passed} passed, ${failed} failed, ${skipped} skipped`
}

const useColour = process.stdout.isTTY && !settings.noColour
const paint = (code: number) => (text: string) => (useColour ? `\u001b[${code}m${text}\u001b[0m` : text)
const green = paint(32)
const red = paint(31)
const yellow = paint(33)
const dim = paint(2)
const bold = paint(1)

const formatters: { [K in LabEvent['kind']]: (event: Extract<LabEvent, { kind: K }>) => string } = {
  phase: (e) => bold(`▸ ${e.phase}`) + (e.detail ? dim(` ${e.detail}`) : ''),
  progress: (e) => dim(`  … ${e.message}`),
  notice: (e) => (e.level === 'warn' ? yellow(`  ! ${e.message}`) : `  ${e.message}`),
  check: (e) => formatCheck(e.result),
  summary: (e) => (e.step ? `step ${e.step}: ` : '') + summaryLine(e),
  mutation: (e) => formatMutation(e.result),
  'mutation-summary': (e) => (e.step ? `step ${e.step}: ` : '') + mutationSummaryLine(e),
}

/** The closing line of the mutation suite: how many of the listed mistakes the checks caught. */
export function mutationSummaryLine({ listed, caught, missed, skipped }: MutationCounts): string {
  return `${caught} of ${listed} mutations caught, ${missed} missed, ${skipped} skipped`
}

export function formatMutation(result: MutationResult): string {
  const took = dim(` (${(result.durationMs / 1000).toFixed(1)} s)`)
  if (result.status === 'skipped') return `  ${yellow('○')} ${result.name} ${dim(`(skipped: ${result.reason})`)}`
  if (result.status === 'caught')
    return `  ${green('✔')} ${result.name} ${dim(result.by === 'api-server' ? 'refused by the API server' : 'caught')}${took}`
  return [`  ${red('✘')} ${result.name} missed${took}`, ...result.problems.map((problem) => `      ${problem}`)].join(
    '\n',
  )
}

export function formatCheck(result: CheckResult): string {
  if (result.status === 'passed')
    return `  ${green('✔')} ${result.title}${result.detail ? dim(` (${result.detail})`) : ''}`
  if (result.status === 'skipped') return `  ${yellow('○')} ${result.title} ${dim(`(skipped: ${result.reason})`)}`
  return [
    `  ${red('✘')} ${result.title}`,
    `      expected: ${result.expected}`,
    `      seen:     ${result.seen}`,
    `      hint:     ${result.hint}`,
  ].join('\n')
}

export function formatEvent(event: LabEvent): string {
  return (formatters[event.kind] as (e: LabEvent) => string)(event)
}

/**
 * The human printer writes each event as it comes. The JSON printer keeps the checks and
 * summaries for one report on stdout at the end, and sends progress to stderr so a pipe
 * reading stdout gets valid JSON.
 */
export function createPrinter(json: boolean): { emit: EmitEvent; finish: () => void } {
  if (!json) return { emit: (event) => console.log(formatEvent(event)), finish: () => {} }
  const checks: CheckResult[] = []
  const summaries: Extract<LabEvent, { kind: 'summary' }>[] = []
  const mutations: (MutationResult & { step: string })[] = []
  const mutationSummaries: Extract<LabEvent, { kind: 'mutation-summary' }>[] = []
  return {
    emit(event) {
      if (event.kind === 'check') checks.push(event.result)
      else if (event.kind === 'summary') summaries.push(event)
      else if (event.kind === 'mutation') mutations.push({ step: event.step, ...event.result })
      else if (event.kind === 'mutation-summary') mutationSummaries.push(event)
      else process.stderr.write(formatEvent(event) + '\n')
    },
    finish() {
      const steps = summaries.map(({ kind: _kind, ...summary }) => summary)
      // The mutation suite's results, when it ran: each mutation, and the counts per step and in total.
      const suite =
        mutationSummaries.length > 0
          ? { mutations, mutationSteps: mutationSummaries.map(({ kind: _kind, ...counts }) => counts) }
          : {}
      process.stdout.write(JSON.stringify({ checks, steps, total: summarize(checks), ...suite }, null, 2) + '\n')
    },
  }
}
