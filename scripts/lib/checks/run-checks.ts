import { setTimeout as sleep } from 'node:timers/promises'
import { errorMessage } from '../errors.ts'
import type { EmitEvent } from '../output.ts'
import { fail, inNamespace, type Check, type CheckEnv, type CheckResult, type Verdict } from './check.ts'

export interface RunOptions {
  /** False on clusters whose nodes run no containers (kwok): `pods` checks are skipped. */
  runsContainers: boolean
  emit: EmitEvent
  /** Pause between a passing observation and the re-check that confirms it. */
  recheckDelayMs?: number
  /** Pause between attempts while a check does not hold yet. */
  retryDelayMs?: number
  defaultTimeoutMs?: number
  /** A cap on every check's own timeout, for runs that expect failures (the mutation suite); unset, none. */
  timeoutMs?: number
  /** Told every observation as it is made, for recording them (`--record`). */
  observed?: (check: Check, observation: unknown) => void
}

const NO_CONTAINERS = 'the nodes of this cluster run no containers (kwok); use --provider kind'

async function observeAndEvaluate<O>(item: Check<O>, env: CheckEnv, options: RunOptions): Promise<Verdict> {
  try {
    const observation = await item.observe(env)
    options.observed?.(item as Check, observation)
    return inNamespace(item.evaluate(observation), env.namespace)
  } catch (error) {
    return fail(
      'the cluster to answer',
      `an error: ${errorMessage(error)}`,
      'see the error; is the step applied and the cluster reachable?',
    )
  }
}

/**
 * Runs one check: retries until it holds or its timeout ends, then observes once more after a
 * short pause, so a state that holds only for an instant does not pass. A drill's `recover`
 * runs last, whatever the verdict; a failure to recover fails the check.
 */
export async function runCheck<O>(item: Check<O>, env: CheckEnv, options: RunOptions): Promise<CheckResult> {
  if (item.needs === 'pods' && !options.runsContainers)
    return { ...identity(item), status: 'skipped', reason: NO_CONTAINERS, attempts: 0, durationMs: 0 }
  const result = await actAndObserve(item, env, options)
  if (!item.recover) return result
  try {
    await item.recover(env)
    return result
  } catch (error) {
    const before = result.status === 'failed' ? `; before it, the check had failed: ${result.seen}` : ''
    return {
      ...result,
      status: 'failed',
      expected: 'the drill to put the cluster back as it found it',
      seen: `an error: ${errorMessage(error)}${before}`,
      hint: result.hint ?? 'the cluster may need mending by hand before anything else runs on it; see the error',
    }
  }
}

/** What a result repeats of its check. */
const identity = ({ id, title, needs }: Pick<Check, 'id' | 'title' | 'needs'>) => ({ id, title, needs })

async function actAndObserve<O>(item: Check<O>, env: CheckEnv, options: RunOptions): Promise<CheckResult> {
  const started = Date.now()
  const base = identity(item)
  const own = item.timeoutMs ?? options.defaultTimeoutMs ?? 60_000
  // A suite's cap cuts every wait short, but not below what the check says it cannot do without.
  const deadline = started + Math.max(item.minimumTimeoutMs ?? 0, Math.min(own, options.timeoutMs ?? own))
  const retryDelay = options.retryDelayMs ?? 1_000
  let attempts = 0
  let verdict: Verdict
  try {
    await item.act?.(env)
  } catch (error) {
    verdict = fail(
      'the check to set up its experiment',
      `an error: ${errorMessage(error)}`,
      'the cluster refused the action; see the error',
    )
    return { ...base, status: 'failed', ...verdict, attempts, durationMs: Date.now() - started }
  }
  for (;;) {
    attempts++
    verdict = await observeAndEvaluate(item, env, options)
    if (verdict.pass) {
      await sleep(options.recheckDelayMs ?? 2_000)
      verdict = await observeAndEvaluate(item, env, options)
      if (verdict.pass)
        return {
          ...base,
          status: 'passed',
          ...(verdict.detail ? { detail: verdict.detail } : {}),
          attempts,
          durationMs: Date.now() - started,
        }
    }
    if (Date.now() + retryDelay >= deadline) break
    if (attempts % 10 === 0) options.emit({ kind: 'progress', message: `still waiting: ${item.title}` })
    await sleep(retryDelay)
  }
  const { expected, seen, hint } = verdict
  return { ...base, status: 'failed', expected, seen, hint, attempts, durationMs: Date.now() - started }
}

/** A check that only reads the API server: it needs no container and provokes nothing. */
const onlyReads = (item: Check) => item.needs === 'api' && !item.act

/**
 * The checks in the groups they run in, in list order: read-only checks next to each other run
 * side by side, as reading cannot change what another check sees. A check that acts (deletes a
 * pod) or needs running containers (sends traffic, execs) runs alone, in its place in the list,
 * so what it does and what it sees are as when every check ran one after the other.
 */
export function runGroups(checks: readonly Check[]): Check[][] {
  const groups: Check[][] = []
  for (const item of checks) {
    const last = groups.at(-1)
    if (last && onlyReads(item) && onlyReads(last[0]!)) last.push(item)
    else groups.push([item])
  }
  return groups
}

/**
 * Runs checks in order, read-only neighbours side by side (`runGroups`), each with its own
 * timeout and re-check. Results come back, and are emitted, in list order, each as soon as it
 * and those before it are known.
 */
export async function runChecks(checks: readonly Check[], env: CheckEnv, options: RunOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  for (const group of runGroups(checks)) {
    const running = group.map((item) => runCheck(item, env, options))
    for (const pending of running) {
      const result = await pending
      options.emit({ kind: 'check', result })
      results.push(result)
    }
  }
  return results
}
