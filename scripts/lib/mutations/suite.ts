// Running a step's mutation suite: the unmutated step first (it must pass), then each mistake of
// its mutations.yaml on a fresh copy of the step, judged against the unmutated step's verdicts.
// Each copy lives in a namespace of its own, so none waits for the one before to be deleted.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { Check, CheckResult, Needs } from '../checks/check.ts'
import { runChecks } from '../checks/run-checks.ts'
import { errorMessage } from '../errors.ts'
import { apply, type KubeContext } from '../kube.ts'
import { readManifests } from '../manifests.ts'
import { awaitLabDeletions, freshNamespace, labNamespaces, releaseNamespace } from '../namespaces.ts'
import { stopStandIn } from '../stand-ins.ts'
import { afterApply, prepareStep } from '../step-prerequisites.ts'
import type { EmitEvent, LabEvent } from '../output.ts'
import { waitForRollout } from '../rollout.ts'
import { loadStepChecks, stepNamespace, type Step } from '../steps.ts'
import { asInStep, copyNamespace, inNamespace } from './namespace-copy.ts'
import { checksToRun, judge, mutationNeeds, type Outcome } from './judge.ts'
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
 * seconds per pod. A rollout whose progress stalls for 30 s is not waited for any longer: on kind,
 * one of step 02's pods (started one after another) took more than 10 s from its predecessor's
 * Ready to its own, and the checks then ran on a step half rolled out.
 */
export const SUITE_DEFAULTS = {
  checkTimeoutMs: 20_000,
  rolloutTimeoutMs: 60_000,
  rolloutStallMs: 30_000,
  recheckDelayMs: 1_000,
  retryDelayMs: 1_000,
}

// Copies are thrown away, and so are the namespaces the suite frees: their pods get one second to stop.
const RELEASE = { gracePeriodSeconds: 1, timeoutMs: 60_000 }

const NEEDS_PODS = 'it shows only where containers run; this cluster runs none (kwok): use --provider kind'

/** The checks a step's test script exports, without its drills. */
export async function loadChecks(step: Step): Promise<Check[]> {
  return (await loadStepChecks(step)).checks
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

function resultInStep(result: CheckResult, inStep: (text: string) => string): CheckResult {
  const { expected, seen, hint } = result
  return {
    ...result,
    ...(expected !== undefined ? { expected: inStep(expected) } : {}),
    ...(seen !== undefined ? { seen: inStep(seen) } : {}),
    ...(hint !== undefined ? { hint: inStep(hint) } : {}),
  }
}

interface Runner {
  /** Applies the objects to a fresh copy of the step in the namespace `copy`, waits for the rollout, runs the checks. */
  run(objects: readonly KubernetesObject[], copy: string, checks: readonly Check[]): Promise<Outcome>
  /** A dry run into `copy`, which holds the unmutated step. */
  dryRun(objects: readonly KubernetesObject[], copy: string): Promise<Outcome>
  /** Deletes a copy in the background: its pods first, so the next copy has their GPUs. */
  release(copy: string): Promise<void>
}

function runnerFor(
  kube: KubeContext,
  namespace: string,
  stepObjects: readonly KubernetesObject[],
  options: SuiteOptions,
): Runner {
  const settings = { ...SUITE_DEFAULTS, ...options }
  // The checks of a run are judged together, not printed one by one; progress still shows.
  const emit = (event: LabEvent) => {
    if (event.kind !== 'check') options.emit(event)
  }
  const quiet = () => {}
  // What the checks and the API server said about a copy, as a learner reads it in the step's namespace.
  const asInStepOutcome = (outcome: Outcome, copy: string): Outcome => {
    const inStep = (text: string) => asInStep(text, copy, namespace)
    if (!outcome.applied) return { applied: false, error: inStep(outcome.error) }
    return { applied: true, results: outcome.results.map((result) => resultInStep(result, inStep)) }
  }
  return {
    async run(objects, copy, checks) {
      // A copy left by an earlier run of the suite is deleted first; usually there is none.
      await freshNamespace(kube, copy, quiet, RELEASE)
      // What the step needs first (a CRD; on kwok, a stand-in for its scheduler), as for the step itself.
      await prepareStep(kube, inNamespace(stepObjects, namespace, copy), quiet)
      const copied = inNamespace(objects, namespace, copy)
      const refused = await applyOrRefusal(kube, copied, false)
      if (refused !== undefined) return asInStepOutcome({ applied: false, error: refused }, copy)
      await afterApply(kube, copied, quiet)
      await waitForRollout(kube, copy, () => {}, {
        timeoutMs: settings.rolloutTimeoutMs,
        stallMs: settings.rolloutStallMs,
        intervalMs: 500,
      })
      const results = await runChecks(
        checks,
        { kube, namespace: copy },
        {
          runsContainers: options.runsContainers,
          emit,
          timeoutMs: settings.checkTimeoutMs,
          recheckDelayMs: settings.recheckDelayMs,
          retryDelayMs: settings.retryDelayMs,
        },
      )
      return asInStepOutcome({ applied: true, results }, copy)
    },
    // Validated and admitted by the API server in full, stored nowhere: the copy stays as it was.
    async dryRun(objects, copy) {
      const refused = await applyOrRefusal(kube, inNamespace(objects, namespace, copy), true)
      return asInStepOutcome(
        refused === undefined ? { applied: true, results: [] } : { applied: false, error: refused },
        copy,
      )
    },
    async release(copy) {
      await stopStandIn(kube, copy)
      await releaseNamespace(kube, copy, RELEASE)
    },
  }
}

/** What a learner would read: the first failing check's hint, or the API server's refusal. */
function messageOf(mutation: Mutation, outcome: Outcome): string | undefined {
  if (!outcome.applied) return outcome.error
  return outcome.results.find((r) => r.id === mutation.fails[0])?.hint
}

/**
 * Runs one step's suite on a cluster where the step may take the GPUs: every lab namespace is
 * removed first, the step's own included, and each run gets a copy of the step in a namespace
 * of its own (namespace-copy.ts), deleted in the background once its checks have run; at the
 * end, the copies may still be terminating (`awaitLabDeletions` waits for them). Errors in the
 * mutation list (a patch that no longer fits the manifests) are thrown before anything is applied.
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
  const patched = mutations.map((mutation) => {
    try {
      return applyPatches(objects, mutation.patch)
    } catch (error) {
      if (error instanceof PatchError)
        throw new PatchError(`steps/${step.folder}/mutations.yaml '${mutation.name}': ${error.message}`)
      throw error
    }
  })

  // The pods of every lab namespace, this step's own included, hold the GPUs the copies need;
  // the namespaces themselves may finish terminating in the background.
  const held = await labNamespaces(kube)
  if (held.length > 0) emit({ kind: 'progress', message: `freeing the GPUs: removing ${held.join(', ')}` })
  const runner = runnerFor(kube, namespace, objects, options)
  for (const name of held) await runner.release(name)
  const unmutatedCopy = copyNamespace(namespace, 'unmutated')

  // A dry run needs the unmutated step on the cluster, so a step with one runs it again.
  const verified = mutations.some((m) => m.expect === 'rejected') ? undefined : options.baselines?.get(step.id)
  const detail = verified
    ? '(as just verified)'
    : options.runsContainers
      ? ''
      : '(this cluster runs no containers: pods checks are skipped)'
  emit({ kind: 'phase', phase: `step ${step.id}: the unmutated step`, detail })
  // A step's drills (test-NN's `drills`) ran after its checks, but no mutation is judged on them.
  const baselineOutcome: Outcome = verified
    ? { applied: true, results: verified.filter((result) => checks.some((c) => c.id === result.id)) }
    : await runner.run(objects, unmutatedCopy, checks)
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
  const judged = (i: number, outcome: Outcome, started: number) => {
    const mutation = mutations[i]!
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
  const refusals = runnable.filter((i) => mutations[i]!.expect === 'rejected')
  const checked = runnable.filter((i) => mutations[i]!.expect !== 'rejected')
  if (runnable.length > 0) emit({ kind: 'phase', phase: `step ${step.id}: ${runnable.length} mutations` })
  // Refusals first, as dry runs into the copy that holds the unmutated step.
  for (const i of refusals) {
    const started = Date.now()
    judged(i, await runner.dryRun(patched[i]!, unmutatedCopy), started)
  }
  await runner.release(unmutatedCopy)
  // Then one fresh copy per mutation, deleted in the background once its checks have run.
  for (const i of checked) {
    const started = Date.now()
    const copy = copyNamespace(namespace, mutations[i]!.name)
    const outcome = await runner.run(patched[i]!, copy, checksToRun(mutations[i]!, checks))
    await runner.release(copy)
    judged(i, outcome, started)
  }

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
  await awaitLabDeletions(kube)
  return reports
}
