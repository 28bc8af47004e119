// Running a step's mutation suite: the unmutated step first (it must pass), then each mistake of
// its mutations.yaml on a fresh copy of the step, judged against the unmutated step's verdicts.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { Check, CheckResult, Needs } from '../checks/check.ts'
import { runChecks } from '../checks/run-checks.ts'
import { errorMessage } from '../errors.ts'
import { apply, type KubeContext } from '../kube.ts'
import { readManifests } from '../manifests.ts'
import { prepareStep } from '../step-prerequisites.ts'
import { labNamespaces } from '../namespaces.ts'
import type { EmitEvent, LabEvent } from '../output.ts'
import { waitForRollout } from '../rollout.ts'
import { stepNamespace, type Step } from '../steps.ts'
import { freshNamespace } from './fresh.ts'
import { judge, mutationNeeds, type Outcome } from './judge.ts'
import { MUTATIONS_FILE, readMutations, type Mutation } from './mutations-file.ts'
import { PatchError } from '../json-patch.ts'
import { applyPatches } from './patch.ts'
import { countMutations, type MutationResult, type StepReport } from './report.ts'

export interface SuiteOptions {
  /** False on clusters whose nodes run no containers (kwok): mutations that need pods are skipped. */
  runsContainers: boolean
  emit: EmitEvent
  /** Caps every check's timeout: a mutated step is expected to fail some checks, and each failure waits this long. */
  checkTimeoutMs?: number
  /** How long to wait for a (mutated) step to roll out before its checks run: a mutated step may never roll out. */
  rolloutTimeoutMs?: number
  /** Stop waiting for the rollout once nothing has changed for this long. */
  rolloutStallMs?: number
  recheckDelayMs?: number
  retryDelayMs?: number
  /** Runs only the mutations that need this (all by default); the others are left out of the report. */
  needs?: Needs
  /**
   * Each step's results from a verification just made on this cluster (verify:all): the
   * unmutated step is not run again, unless a mutation's dry run needs it applied.
   */
  baselines?: ReadonlyMap<string, readonly CheckResult[]>
}

/**
 * Bounds for a run on any provider: real nodes start containers and pass probes, which takes
 * seconds per pod. A rollout whose progress stalls for 10 s is not waited for any longer.
 */
export const SUITE_DEFAULTS = {
  checkTimeoutMs: 20_000,
  rolloutTimeoutMs: 60_000,
  rolloutStallMs: 10_000,
  recheckDelayMs: 1_000,
  retryDelayMs: 1_000,
}

const NEEDS_PODS = 'it shows only where containers run; this cluster runs none (kwok): use --provider kind'

/** The checks a step's test script exports. */
export async function loadChecks(step: Step): Promise<Check[]> {
  const module = (await import(step.testFile)) as { checks?: Check[] }
  if (!Array.isArray(module.checks)) throw new Error(`${step.testFile} must export its list of checks as 'checks'`)
  return module.checks
}

/** An apply the API server refused (invalid, forbidden, admission), as opposed to one that never reached it. */
function refusal(error: unknown): string | undefined {
  const code = ((error as Error).cause as { code?: unknown } | undefined)?.code
  return typeof code === 'number' && code >= 400 && code < 500 ? errorMessage(error) : undefined
}

/** Applies objects; the API server's refusal is an outcome, any other error is thrown. */
async function applyOrRefusal(
  kube: KubeContext,
  objects: readonly KubernetesObject[],
  dryRun: boolean,
): Promise<string | undefined> {
  try {
    await apply(kube, objects, { dryRun })
    return undefined
  } catch (error) {
    const refused = refusal(error)
    if (refused === undefined) throw error
    return refused
  }
}

interface Runner {
  run(objects: readonly KubernetesObject[]): Promise<Outcome>
  dryRun(objects: readonly KubernetesObject[]): Promise<Outcome>
}

function runnerFor(kube: KubeContext, namespace: string, checks: readonly Check[], options: SuiteOptions): Runner {
  const settings = { ...SUITE_DEFAULTS, ...options }
  // The checks of a run are judged together, not printed one by one; progress still shows.
  const emit = (event: LabEvent) => {
    if (event.kind !== 'check') options.emit(event)
  }
  const quiet = () => {}
  return {
    async run(objects) {
      await freshNamespace(kube, namespace, quiet)
      const refused = await applyOrRefusal(kube, objects, false)
      if (refused !== undefined) return { applied: false, error: refused }
      await waitForRollout(kube, namespace, () => {}, {
        timeoutMs: settings.rolloutTimeoutMs,
        stallMs: settings.rolloutStallMs,
        intervalMs: 500,
      })
      const results = await runChecks(
        checks,
        { kube, namespace },
        {
          runsContainers: options.runsContainers,
          emit,
          timeoutMs: settings.checkTimeoutMs,
          recheckDelayMs: settings.recheckDelayMs,
          retryDelayMs: settings.retryDelayMs,
        },
      )
      return { applied: true, results }
    },
    // Validated and admitted by the API server in full, stored nowhere: the step stays as it was.
    async dryRun(objects) {
      const refused = await applyOrRefusal(kube, objects, true)
      return refused === undefined ? { applied: true, results: [] } : { applied: false, error: refused }
    },
  }
}

/** What a learner would read: the first failing check's hint, or the API server's refusal. */
function messageOf(mutation: Mutation, outcome: Outcome): string | undefined {
  if (!outcome.applied) return outcome.error
  return outcome.results.find((r) => r.id === mutation.fails[0])?.hint
}

/**
 * Runs one step's suite on a cluster where the step may take the GPUs: the other steps'
 * namespaces are removed first, and the step's own namespace is left removed at the end.
 * Errors in the mutation list (a patch that no longer fits the manifests) are thrown before
 * anything is applied.
 */
export async function runStepMutations(kube: KubeContext, step: Step, options: SuiteOptions): Promise<StepReport> {
  const { emit } = options
  const checks = await loadChecks(step)
  const mutations = (
    await readMutations(
      step.dir,
      checks.map((c) => c.id),
    )
  ).filter((m) => !options.needs || mutationNeeds(m, checks) === options.needs)
  const objects = await readManifests(step.dir)
  const namespace = await stepNamespace(step)
  await prepareStep(kube, objects, emit)
  const patched = mutations.map((mutation) => {
    try {
      return applyPatches(objects, mutation.patch)
    } catch (error) {
      if (error instanceof PatchError)
        throw new PatchError(`steps/${step.folder}/mutations.yaml '${mutation.name}': ${error.message}`)
      throw error
    }
  })

  // The other steps' pods hold the GPUs; their namespaces may finish terminating in the background.
  const others = (await labNamespaces(kube)).filter((name) => name !== namespace)
  if (others.length > 0) emit({ kind: 'progress', message: `freeing the GPUs: removing ${others.join(', ')}` })
  for (const other of others) await freshNamespace(kube, other, emit, { wait: false })
  const runner = runnerFor(kube, namespace, checks, options)

  // A dry run needs the unmutated step on the cluster, so a step with one runs it again.
  const verified = mutations.some((m) => m.expect === 'rejected') ? undefined : options.baselines?.get(step.id)
  const detail = verified
    ? '(as just verified)'
    : options.runsContainers
      ? ''
      : '(this cluster runs no containers: pods checks are skipped)'
  emit({ kind: 'phase', phase: `step ${step.id}: the unmutated step`, detail })
  const baselineOutcome: Outcome = verified ? { applied: true, results: [...verified] } : await runner.run(objects)
  if (!baselineOutcome.applied)
    throw new Error(`steps/${step.folder} itself was refused by the API server: ${baselineOutcome.error}`)
  const baseline: CheckResult[] = baselineOutcome.results
  const baselinePassed = baseline.every((r) => r.status !== 'failed')
  for (const result of baseline.filter((r) => r.status === 'failed')) emit({ kind: 'check', result })
  emit({
    kind: 'progress',
    message: `unmutated: ${baseline.filter((r) => r.status === 'passed').length} checks passed, ${baseline.filter((r) => r.status === 'skipped').length} skipped, ${baseline.filter((r) => r.status === 'failed').length} failed`,
  })

  const results = new Map<string, MutationResult>()
  const finish = (result: MutationResult) => {
    results.set(result.name, result)
    emit({ kind: 'mutation', step: step.id, result })
  }
  const runnable: number[] = []
  for (const [i, mutation] of mutations.entries()) {
    const needs = mutationNeeds(mutation, checks)
    if (needs === 'pods' && !options.runsContainers)
      finish({ name: mutation.name, status: 'skipped', needs, reason: NEEDS_PODS, problems: [], durationMs: 0 })
    else if (!baselinePassed)
      finish({
        name: mutation.name,
        status: 'missed',
        needs,
        problems: ['the unmutated step does not pass its own checks: fix it first'],
        durationMs: 0,
      })
    else runnable.push(i)
  }
  // Refusals first, as dry runs while the cluster holds the unmutated step; then one fresh copy per mutation.
  const order = [
    ...runnable.filter((i) => mutations[i]!.expect === 'rejected'),
    ...runnable.filter((i) => mutations[i]!.expect !== 'rejected'),
  ]
  if (order.length > 0) emit({ kind: 'phase', phase: `step ${step.id}: ${order.length} mutations` })
  for (const i of order) {
    const mutation = mutations[i]!
    const started = Date.now()
    const outcome = mutation.expect === 'rejected' ? await runner.dryRun(patched[i]!) : await runner.run(patched[i]!)
    const { status, by, problems } = judge(mutation, baseline, outcome)
    const message = messageOf(mutation, outcome)
    finish({
      name: mutation.name,
      status,
      needs: mutationNeeds(mutation, checks),
      ...(by ? { by } : {}),
      problems,
      ...(message ? { message } : {}),
      durationMs: Date.now() - started,
    })
  }
  await freshNamespace(kube, namespace, () => {}, { wait: false })

  const report: StepReport = {
    step: step.id,
    folder: step.folder,
    baseline: { passed: baselinePassed, checks: baseline.map((r) => ({ id: r.id, status: r.status })) },
    mutations: mutations.map((m) => results.get(m.name)!),
  }
  emit({ kind: 'mutation-summary', step: step.id, ...countMutations(report.mutations) })
  return report
}

/** The mutation suite of every step that has a list, in order, on one cluster. */
export async function runMutationSuite(
  kube: KubeContext,
  steps: readonly Step[],
  options: SuiteOptions,
): Promise<StepReport[]> {
  const reports: StepReport[] = []
  for (const step of steps) {
    if (!existsSync(join(step.dir, MUTATIONS_FILE))) {
      options.emit({ kind: 'notice', level: 'warn', message: `steps/${step.folder} has no ${MUTATIONS_FILE}` })
      continue
    }
    reports.push(await runStepMutations(kube, step, options))
  }
  return reports
}
