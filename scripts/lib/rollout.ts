import type { KubeContext } from './kube.ts'
import type { EmitEvent } from './output.ts'
import { pollUntil } from './poll.ts'

/** The StatefulSets and Deployments of a namespace that are not fully rolled out, as "kind/name ready/wanted". */
export async function pendingWorkloads(kube: KubeContext, namespace: string): Promise<string[]> {
  const [sets, deployments] = await Promise.all([
    kube.apps.listNamespacedStatefulSet({ namespace }),
    kube.apps.listNamespacedDeployment({ namespace }),
  ])
  const pending: string[] = []
  for (const set of sets.items) {
    const wanted = set.spec?.replicas ?? 1
    const ready = set.status?.readyReplicas ?? 0
    if (ready < wanted || set.status?.currentRevision !== set.status?.updateRevision)
      pending.push(`statefulset/${set.metadata!.name} ${ready}/${wanted}`)
  }
  for (const deployment of deployments.items) {
    const wanted = deployment.spec?.replicas ?? 1
    const available = deployment.status?.availableReplicas ?? 0
    const updated = deployment.status?.updatedReplicas ?? 0
    if (available < wanted || updated < wanted)
      pending.push(`deployment/${deployment.metadata!.name} ${available}/${wanted}`)
  }
  return pending
}

export interface RolloutWait {
  timeoutMs?: number
  /** Stop waiting once what is pending has not changed for this long: a broken step may never roll out. */
  stallMs?: number
  intervalMs?: number
}

/**
 * Waits until every workload of the namespace is rolled out, reporting progress when it
 * changes. Returns what is still pending at the timeout (or the stall): the checks then say why.
 */
export async function waitForRollout(
  kube: KubeContext,
  namespace: string,
  emit: EmitEvent,
  { timeoutMs = 240_000, stallMs, intervalMs }: RolloutWait = {},
): Promise<string[]> {
  let last = ''
  let since = Date.now()
  const { value: pending } = await pollUntil(
    async () => {
      const pending = await pendingWorkloads(kube, namespace)
      if (pending.join() !== last) {
        if (pending.length > 0) emit({ kind: 'progress', message: `waiting for ${pending.join(', ')}` })
        ;[last, since] = [pending.join(), Date.now()]
      }
      return pending
    },
    (pending) => pending.length === 0 || (stallMs !== undefined && Date.now() - since >= stallMs),
    { timeoutMs, intervalMs },
  )
  return pending
}
