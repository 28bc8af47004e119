// Helpers for judging checks on recorded observations (fixtures/*.json, keyed by check id, as
// `npx tsx steps/NN-…/test-NN-….ts --record FILE` writes them: each check's last observation).
import type { Check, Verdict } from '../../scripts/lib/checks/check.ts'

/** A fresh copy of the observation recorded for a check, so a test can change it freely. */
export function recordedFor<O>(item: Check<O>, from: Record<string, unknown>): O {
  const observation = from[item.id]
  if (observation === undefined) throw new Error(`no recorded observation for ${item.id} ("${item.title}")`)
  return structuredClone(observation as O)
}

/** The failing verdict, or an error when the check passed. */
export function failure(verdict: Verdict): Exclude<Verdict, { pass: true }> {
  if (verdict.pass) throw new Error('expected the check to fail')
  return verdict
}
