import type { KubernetesObject } from '@kubernetes/client-node'
import { createCluster } from './cluster/create.ts'
import { loadTopology } from './cluster/topology.ts'
import type { CheckResult } from './checks/check.ts'
import { describeNamespace } from './diagnostics.ts'
import { runChecks } from './checks/run-checks.ts'
import { IMAGE } from './image.ts'
import { buildLabImages, onNodes, otherImagesNamed } from './lab-images.ts'
import { apply, clusterRunsContainers, connect, type KubeContext } from './kube.ts'
import { readManifests } from './manifests.ts'
import { deleteNamespaces, freshNamespace, isTerminating, labNamespaces, releaseNamespace } from './namespaces.ts'
import { summarize, type EmitEvent } from './output.ts'
import { waitForRollout } from './rollout.ts'
import { ensureApplied } from './step-presence.ts'
import { afterApply, prepareStep } from './step-prerequisites.ts'
import { listSteps, loadStepChecks, stepNamespace, type Step } from './steps.ts'
import type { Target } from './target.ts'

export interface StepOptions {
  /** False with --no-apply: verify what is there. */
  apply: boolean
  /** --reset: delete the step's namespace first and start again. */
  reset: boolean
  emit: EmitEvent
}

/** Phase 1: the cluster exists and answers. Creates the lab's own cluster; never a named one. */
export async function ensureCluster(target: Target, emit: EmitEvent): Promise<KubeContext> {
  if (target.explicitContext) return connect(target.context)
  const { provider, cluster } = target
  await provider.checkTools(emit)
  if (!(await provider.exists(cluster)))
    await createCluster(provider, cluster, await loadTopology(target.topology), emit)
  return connect(target.context)
}

/**
 * Phase 2: the images the lab builds (lab-images.ts: the workloads', and the others the step's
 * objects name) are built from the current sources, and loaded into the nodes that lack them.
 */
export async function ensureImages(
  target: Target,
  runsContainers: boolean,
  objects: readonly KubernetesObject[],
  emit: EmitEvent,
): Promise<void> {
  if (!runsContainers) return
  if (target.explicitContext) {
    const needed = [IMAGE, ...otherImagesNamed(objects)].join(', ')
    emit({
      kind: 'notice',
      level: 'warn',
      message: `--context ${target.context}: the lab does not load images into clusters it did not create; the nodes must have ${needed}`,
    })
    return
  }
  emit({ kind: 'phase', phase: 'images' })
  const images = await buildLabImages(objects, emit, { nodejsImage: await target.provider.workloadBaseImage?.(emit) })
  const present = await target.provider.nodeImages(target.cluster)
  const missing = images.filter((image) => !onNodes(present, image))
  if (missing.length === 0) return
  emit({ kind: 'phase', phase: 'loading images', detail: missing.map((image) => image.contentReference).join(', ') })
  await target.provider.loadImages(
    target.cluster,
    missing.flatMap((image) => [image.reference, image.contentReference]),
    emit,
  )
}

/** Phase 3: one step at a time on the cluster (they share its GPUs); the step's manifests by server-side apply. */
export async function applyStep(kube: KubeContext, step: Step, options: StepOptions): Promise<string> {
  const namespace = await stepNamespace(step)
  const others = (await labNamespaces(kube)).filter((name) => name !== namespace)
  if (others.length > 0) {
    options.emit({ kind: 'phase', phase: 'freeing the GPUs', detail: `other steps hold them: ${others.join(', ')}` })
    // Their pods gone is what frees the GPUs; the namespaces may finish terminating in the background.
    for (const other of others) await releaseNamespace(kube, other)
  }
  if (options.reset) {
    options.emit({ kind: 'phase', phase: `resetting ${namespace}` })
    await freshNamespace(kube, namespace, options.emit)
  } else if (await isTerminating(kube, namespace)) {
    options.emit({ kind: 'progress', message: `${namespace} is still being deleted: waiting until it is gone` })
    await deleteNamespaces(kube, [namespace], options.emit)
  }
  const objects = await readManifests(step.dir)
  await prepareStep(kube, objects, options.emit)
  options.emit({
    kind: 'phase',
    phase: `applying steps/${step.folder}`,
    detail: `${objects.length} objects, server-side apply`,
  })
  await apply(kube, objects)
  await afterApply(kube, objects, options.emit)
  return namespace
}

/** Phase 5: the step's checks, imported from its test script, then its drills if it has any (steps.ts). */
export async function verifyStep(
  kube: KubeContext,
  step: Step,
  runsContainers: boolean,
  emit: EmitEvent,
): Promise<CheckResult[]> {
  const { checks, drills } = await loadStepChecks(step)
  const namespace = await stepNamespace(step)
  const env = { kube, namespace }
  emit({
    kind: 'phase',
    phase: `verifying step ${step.id}`,
    detail: runsContainers ? '' : '(this cluster runs no containers: pods checks are skipped)',
  })
  const results = await runChecks(checks, env, { runsContainers, emit })
  if (drills.length === 0) return results
  emit({ kind: 'phase', phase: `drills of step ${step.id}`, detail: 'losing part of the cluster on purpose' })
  return [...results, ...(await runChecks(drills, env, { runsContainers, emit }))]
}

/** ensure cluster → images → apply → wait → verify → report (with what the pods say, when a check failed). */
export async function runStep(target: Target, step: Step, options: StepOptions): Promise<CheckResult[]> {
  const { emit } = options
  const kube = await ensureCluster(target, emit)
  const runsContainers = await clusterRunsContainers(kube)
  if (options.apply) {
    await ensureImages(target, runsContainers, await readManifests(step.dir), emit)
    const namespace = await applyStep(kube, step, options)
    emit({ kind: 'phase', phase: 'waiting for the rollout' })
    const pending = await waitForRollout(kube, namespace, emit)
    if (pending.length > 0)
      emit({ kind: 'notice', level: 'warn', message: `not rolled out yet: ${pending.join(', ')}; verifying anyway` })
  } else {
    await ensureApplied(kube, step)
  }
  const results = await verifyStep(kube, step, runsContainers, emit)
  if (runsContainers && results.some((r) => r.status === 'failed')) {
    emit({ kind: 'phase', phase: `what step ${step.id}'s namespace holds now` })
    for (const line of await describeNamespace(kube, await stepNamespace(step)))
      emit({ kind: 'notice', level: 'info', message: line })
  }
  return results
}

/** Every step in order on one cluster, each from a fresh namespace, with a summary per step. */
export async function verifyAll(target: Target, emit: EmitEvent): Promise<Map<string, CheckResult[]>> {
  const byStep = new Map<string, CheckResult[]>()
  for (const step of await listSteps()) {
    const results = await runStep(target, step, { apply: true, reset: true, emit })
    emit({ kind: 'summary', step: step.id, ...summarize(results) })
    byStep.set(step.id, results)
  }
  return byStep
}
