// A fresh copy of a step: its namespace deleted and gone, before the (mutated) step is applied.
import { setHeaderOptions, PatchStrategy } from '@kubernetes/client-node'
import { isNotFound, type KubeContext } from '../kube.ts'
import { deleteNamespaces } from '../namespaces.ts'
import type { EmitEvent } from '../output.ts'
import { pollUntil } from '../poll.ts'

/**
 * Deletes the namespace and waits until it is gone. Its workloads, pods and volume claims go
 * first, the pods without a grace period and the claims without their protection finalizer
 * once no pod uses them: the namespace controller then has nothing to wait for, which saves
 * seconds per run when a suite starts afresh dozens of times. (The controller still waits five
 * seconds before it acts on a deleted namespace, by design.) With `wait: false` it returns once
 * the pods are gone, while the namespace is still terminating.
 */
export async function freshNamespace(
  kube: KubeContext,
  namespace: string,
  emit: EmitEvent,
  options: { wait?: boolean } = {},
): Promise<void> {
  try {
    await kube.core.readNamespace({ name: namespace })
  } catch (error) {
    if (isNotFound(error)) return
    throw error
  }
  // Every controller that would recreate the pods, ReplicaSets and DaemonSets (step 06) included (the garbage
  // collector would take them only later).
  await Promise.all([
    kube.apps.deleteCollectionNamespacedStatefulSet({ namespace }),
    kube.apps.deleteCollectionNamespacedDaemonSet({ namespace }),
    kube.apps.deleteCollectionNamespacedDeployment({ namespace }),
    kube.apps.deleteCollectionNamespacedReplicaSet({ namespace }),
  ])
  await kube.core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 })
  await kube.core.deleteCollectionNamespacedPersistentVolumeClaim({ namespace })
  const { held: podsGone } = await pollUntil(
    async () => (await kube.core.listNamespacedPod({ namespace })).items.length,
    (pods) => pods === 0,
    { timeoutMs: 60_000, intervalMs: 200 },
  )
  // A claim keeps its finalizer while a pod uses it; the namespace deletion then waits for it.
  const claims = !podsGone ? [] : (await kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items
  for (const claim of claims) {
    if (!claim.metadata?.finalizers?.length) continue
    try {
      await kube.core.patchNamespacedPersistentVolumeClaim(
        { name: claim.metadata.name!, namespace, body: [{ op: 'remove', path: '/metadata/finalizers' }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      )
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
  }
  if (options.wait === false) {
    // Its pods are gone, so its GPUs are free: the namespace itself may finish in the background.
    await kube.core.deleteNamespace({ name: namespace }).catch((error: unknown) => {
      if (!isNotFound(error)) throw error
    })
    return
  }
  await deleteNamespaces(kube, [namespace], emit)
}
