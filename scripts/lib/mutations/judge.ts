// Judging one mutation, kept apart from running it: the baseline's check results, what the
// mutated step gave, and the mutation's expectations → caught or missed, with the reasons.
import type { CheckResult, Needs } from '../checks/check.ts'
import type { Mutation } from './mutations-file.ts'

/** What applying the mutated step gave: the checks' results, or the API server's refusal. */
export type Outcome = { applied: true; results: CheckResult[] } | { applied: false; error: string }

export type MutationStatus = 'caught' | 'missed' | 'skipped'

export interface Judgement {
  status: Exclude<MutationStatus, 'skipped'>
  /** Who caught it: the step's checks, or the API server at apply. */
  by?: 'checks' | 'api-server'
  /** Why it counts as missed: one line per broken expectation. */
  problems: string[]
}

/** What a mutation needs to show: its own `needs`, else the needs of the check that must name it (api for a refusal). */
export function mutationNeeds(mutation: Mutation, checks: readonly { id: string; needs: Needs }[]): Needs {
  if (mutation.needs) return mutation.needs
  if (mutation.expect === 'rejected') return 'api'
  return checks.find((c) => c.id === mutation.fails[0])?.needs ?? 'api'
}

/**
 * The checks a mutated step runs: all of them up to the last one whose verdict is judged (every
 * check but `mayAlsoFail`). Unjudged checks after it are left out: they come after every verdict
 * that counts, so nothing they do (a pod deleted, traffic sent) can change one, and each would
 * only wait out its timeout, failing.
 */
export function checksToRun<C extends { id: string }>(mutation: Mutation, checks: readonly C[]): C[] {
  const judged = checks.map((c) => !mutation.mayAlsoFail.includes(c.id))
  return checks.slice(0, judged.lastIndexOf(true) + 1)
}

/** The words of `words` that `text` lacks, compared case-insensitively. */
export function missingWords(text: string, words: readonly string[]): string[] {
  const lower = text.toLowerCase()
  return words.filter((word) => !lower.includes(word.toLowerCase()))
}

const quote = (words: readonly string[]) => words.map((w) => `'${w}'`).join(', ')

function judgeRefusal(mutation: Mutation, outcome: Outcome): Judgement {
  if (outcome.applied)
    return { status: 'missed', problems: ['the API server accepted the mutated step; expected it to refuse it'] }
  const missing = missingWords(outcome.error, mutation.hint)
  if (missing.length > 0)
    return {
      status: 'missed',
      problems: [`the API server refused it, but its error lacks ${quote(missing)}: ${outcome.error}`],
    }
  return { status: 'caught', by: 'api-server', problems: [] }
}

/**
 * The verdict on one mutation. Caught when: every check in `fails` failed (one skipped on this
 * cluster, as on the baseline, counts as not run), the first one's hint has every word of `hint`,
 * and every check outside `fails` and `mayAlsoFail` kept its baseline status.
 */
export function judge(mutation: Mutation, baseline: readonly CheckResult[], outcome: Outcome): Judgement {
  if (mutation.expect === 'rejected') return judgeRefusal(mutation, outcome)
  if (!outcome.applied)
    return {
      status: 'missed',
      problems: [
        `the API server refused the mutated step (${outcome.error}); if that is the point, use expect: rejected`,
      ],
    }
  const problems: string[] = []
  const resultOf = (id: string) => outcome.results.find((r) => r.id === id)
  for (const [i, id] of mutation.fails.entries()) {
    const result = resultOf(id)
    if (!result) {
      problems.push(`no result for check '${id}'`)
      continue
    }
    if (result.status === 'skipped' && i > 0) continue
    if (result.status !== 'failed') {
      problems.push(`'${id}' ${result.status}; expected it to fail`)
      continue
    }
    if (i === 0) {
      const missing = missingWords(result.hint ?? '', mutation.hint)
      if (missing.length > 0)
        problems.push(`'${id}' failed, but its hint lacks ${quote(missing)}: "${result.hint ?? ''}"`)
    }
  }
  for (const before of baseline) {
    if (mutation.fails.includes(before.id) || mutation.mayAlsoFail.includes(before.id)) continue
    const after = resultOf(before.id)
    if (!after) problems.push(`no result for check '${before.id}'`)
    else if (after.status !== before.status) {
      const detail = after.status === 'failed' ? `: seen ${after.seen}; hint: ${after.hint}` : ''
      problems.push(`'${before.id}' ${after.status} (it ${before.status} on the unmutated step)${detail}`)
    }
  }
  return problems.length === 0 ? { status: 'caught', by: 'checks', problems } : { status: 'missed', problems }
}
