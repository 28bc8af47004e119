// What the mutation suite found, per step: the shape of `npm run mutations -- --json` and of the
// recorded results in docs/data/mutations.json that the docs' table is built from.
import type { CheckStatus, Needs } from '../checks/check.ts'
import type { MutationStatus } from './judge.ts'

export interface MutationResult {
  name: string
  status: MutationStatus
  needs: Needs
  /** Who caught it: the step's checks, or the API server at apply. */
  by?: 'checks' | 'api-server'
  /** Why it was skipped. */
  reason?: string
  /** Why it counts as missed: one line per broken expectation. */
  problems: string[]
  /** What a learner would read: the hint of the check that caught it, or the API server's refusal. */
  message?: string
  durationMs: number
}

export interface StepReport {
  /** Two digits: "03". */
  step: string
  folder: string
  baseline: { passed: boolean; checks: { id: string; status: CheckStatus }[] }
  mutations: MutationResult[]
}

export interface SuiteReport {
  /** The cluster the suite ran on: its provider when the lab made it, and whether its nodes run containers. */
  cluster: { context: string; provider?: string; runsContainers: boolean; kubernetes?: string }
  steps: StepReport[]
}

export interface MutationCounts {
  listed: number
  caught: number
  missed: number
  skipped: number
}

export function countMutations(results: readonly MutationResult[]): MutationCounts {
  const count = (status: MutationStatus) => results.filter((r) => r.status === status).length
  return { listed: results.length, caught: count('caught'), missed: count('missed'), skipped: count('skipped') }
}

/** The suite passes when the unmutated steps pass and every mutation that could run was caught. */
export function suitePassed(steps: readonly StepReport[]): boolean {
  return steps.every((step) => step.baseline.passed && step.mutations.every((m) => m.status !== 'missed'))
}
