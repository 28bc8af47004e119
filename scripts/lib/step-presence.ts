// Whether a step is on the cluster at all, asked before any check waits: with --no-apply, a step
// that another step's run removed (each run deletes the other steps' namespaces to free their
// GPUs) would otherwise let every check wait out its timeout and then fail for the wrong reason.
import { orNull } from './checks/kit.ts'
import { EnvironmentError } from './errors.ts'
import type { KubeContext } from './kube.ts'
import { readManifests } from './manifests.ts'
import { stepNamespace, type Step } from './steps.ts'

/** The kinds whose absence means the step is not there: what the step runs. */
const WORKLOAD_KINDS = ['StatefulSet', 'Deployment'] as const

/** What of a step the cluster holds: its namespace, and which of its workloads are missing. */
export interface Presence {
  step: string
  namespace: string
  /** `absent`, `terminating` (being deleted), or `present`. */
  namespaceState: 'absent' | 'terminating' | 'present'
  /** The step's workloads, as `Kind/name`. */
  workloads: string[]
  /** Those of them the namespace does not hold. */
  missing: string[]
}

export async function observePresence(kube: KubeContext, step: Step): Promise<Presence> {
  const namespace = await stepNamespace(step)
  const workloads = (await readManifests(step.dir))
    .filter((object) => (WORKLOAD_KINDS as readonly string[]).includes(object.kind!))
    .map((object) => `${object.kind}/${object.metadata!.name}`)
  const found = await orNull(kube.core.readNamespace({ name: namespace }))
  const base = { step: step.id, namespace, workloads }
  if (!found) return { ...base, namespaceState: 'absent', missing: workloads }
  if (found.metadata?.deletionTimestamp) return { ...base, namespaceState: 'terminating', missing: workloads }
  const missing: string[] = []
  for (const workload of workloads) {
    const [kind, name] = workload.split('/') as [string, string]
    const read: Promise<unknown> =
      kind === 'StatefulSet'
        ? kube.apps.readNamespacedStatefulSet({ name, namespace })
        : kube.apps.readNamespacedDeployment({ name, namespace })
    if (!(await orNull(read))) missing.push(workload)
  }
  return { ...base, namespaceState: 'present', missing }
}

/** One line saying the step is not (wholly) there and the command that puts it back; undefined when it is there. */
export function notApplied(presence: Presence): string | undefined {
  const { step, namespace, namespaceState, workloads, missing } = presence
  const fix = `apply it with: npm run step ${step}`
  if (namespaceState === 'absent')
    return `step ${step} is not applied: namespace ${namespace} does not exist (running another step removes it, to free the GPUs); ${fix}`
  if (namespaceState === 'terminating')
    return `step ${step} is not applied: namespace ${namespace} is being deleted (running another step removes it, to free the GPUs); ${fix}`
  if (missing.length === 0) return undefined
  if (missing.length === workloads.length)
    return `step ${step} is not applied: namespace ${namespace} holds none of its workloads (${missing.join(', ')}); ${fix}`
  return `step ${step} is only partly applied: namespace ${namespace} lacks ${missing.join(', ')}; ${fix}`
}

/** Before checks run on a step that was not applied now (--no-apply, a test script run alone): one line, exit 2. */
export async function ensureApplied(kube: KubeContext, step: Step): Promise<void> {
  const problem = notApplied(await observePresence(kube, step))
  if (problem) throw new EnvironmentError(problem)
}
