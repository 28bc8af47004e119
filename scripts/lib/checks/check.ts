import type { KubeContext } from '../kube.ts'

/** What a check needs from the cluster: the API server alone, or containers that really run. */
export type Needs = 'api' | 'pods'

/** The outcome of evaluating one observation. A failure says what was expected, what was seen, and why. */
export type Verdict = { pass: true; detail?: string } | { pass: false; expected: string; seen: string; hint: string }

export const pass: Verdict = { pass: true }

/** A pass that also says what was measured on the way (how long a scale-up took, what a client counted). */
export const passWith = (detail: string): Verdict => ({ pass: true, detail })

export function fail(expected: string, seen: string, hint: string): Verdict {
  return { pass: false, expected, seen, hint }
}

/**
 * Stands for the step's namespace in a verdict's text. `evaluate` sees only the observation,
 * so the runner writes the namespace in (`inNamespace`); judged on a recording, it stays as is.
 */
export const NAMESPACE = '<namespace>'

/** The verdict with the step's namespace written in for `NAMESPACE`. */
export function inNamespace(verdict: Verdict, namespace: string): Verdict {
  if (verdict.pass) return verdict
  const fill = (text: string) => text.replaceAll(NAMESPACE, namespace)
  return fail(fill(verdict.expected), fill(verdict.seen), fill(verdict.hint))
}

export interface CheckEnv {
  kube: KubeContext
  /** The namespace of the step being verified. */
  namespace: string
}

/**
 * One verification: observing the cluster is kept apart from judging what was observed, so
 * `evaluate` can be unit-tested on recorded observations.
 */
export interface Check<Observation = unknown> {
  /** A short stable name in kebab-case ("separate-nodes"), unique within its step: what mutation lists name. */
  id: string
  /** The outcome, stated as a fact: "each rank runs on its own node". */
  title: string
  needs: Needs
  /** How long to keep retrying before the check fails (default 60 s). */
  timeoutMs?: number
  /**
   * The shortest wait that can show the outcome, which a suite's cap on timeouts leaves alone:
   * what a controller does on its own period (the HPA controller's 15 s) cannot be seen sooner.
   */
  minimumTimeoutMs?: number
  /** Runs once before observing, for checks that provoke something (delete a pod, send traffic). */
  act?: (env: CheckEnv) => Promise<void>
  /**
   * Runs once after the check, passed or failed, for a drill whose `act` breaks what the cluster
   * does not mend by itself (a node stopped): it puts the cluster back for what runs next.
   */
  recover?: (env: CheckEnv) => Promise<void>
  observe: (env: CheckEnv) => Promise<Observation>
  // Method syntax on purpose: it lets a list of checks with different observations be a Check[].
  evaluate(observation: Observation): Verdict
}

/** Identity function that lets TypeScript infer a check's observation type. */
export function check<Observation>(definition: Check<Observation>): Check<Observation> {
  return definition
}

export type CheckStatus = 'passed' | 'failed' | 'skipped'

export interface CheckResult {
  id: string
  title: string
  needs: Needs
  status: CheckStatus
  expected?: string
  seen?: string
  hint?: string
  /** Why a check was skipped. */
  reason?: string
  /** What a passed check measured, from `passWith`. */
  detail?: string
  attempts: number
  durationMs: number
}
