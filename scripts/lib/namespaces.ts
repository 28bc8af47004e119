import {
  ApiregistrationV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  SchedulingV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node'
import { isNotFound, type KubeContext } from './kube.ts'
import type { EmitEvent } from './output.ts'
import { pollUntil } from './poll.ts'
import { PROJECT } from './project.ts'

const LAB_NAMESPACES = `app.kubernetes.io/part-of=${PROJECT}`

/** Namespaces the lab created: every step's namespace carries the `part-of` label. */
export async function labNamespaces(kube: KubeContext): Promise<string[]> {
  const list = await kube.core.listNamespace({ labelSelector: LAB_NAMESPACES })
  return list.items.map((ns) => ns.metadata!.name!)
}

/** Whether the namespace is being deleted: until it is gone, nothing can be created in it. */
export async function isTerminating(kube: KubeContext, name: string): Promise<boolean> {
  try {
    return (await kube.core.readNamespace({ name })).metadata?.deletionTimestamp !== undefined
  } catch (error) {
    if (isNotFound(error)) return false
    throw error
  }
}

/**
 * Deletes the APIServices served from these namespaces (step 07's metrics adapter): one whose
 * server is gone fails the namespace controller's discovery, and every namespace deletion in the
 * cluster waits (NamespaceDeletionDiscoveryFailure), so they go before their namespace.
 */
export async function deleteApiServicesInto(kube: KubeContext, namespaces: readonly string[]): Promise<string[]> {
  const apiServices = kube.config.makeApiClient(ApiregistrationV1Api)
  const served = (await apiServices.listAPIService()).items.filter((a) =>
    namespaces.includes(a.spec?.service?.namespace ?? ''),
  )
  for (const apiService of served)
    await apiServices.deleteAPIService({ name: apiService.metadata!.name! }).catch((error: unknown) => {
      if (!isNotFound(error)) throw error
    })
  return served.map((a) => a.metadata!.name!)
}

/** Deletes namespaces and waits until they are gone, so their pods no longer hold GPUs. */
export async function deleteNamespaces(
  kube: KubeContext,
  names: string[],
  emit: EmitEvent,
  timeoutMs = 180_000,
): Promise<void> {
  if (names.length === 0) return
  emit({ kind: 'progress', message: `removing namespace ${names.join(', ')}` })
  await deleteApiServicesInto(kube, names)
  for (const name of names) {
    try {
      await kube.core.deleteNamespace({ name })
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
  }
  await waitUntilGone(kube, names, timeoutMs)
}

export interface ReleaseOptions {
  /**
   * Overrides the pods' own grace period: for throwaway copies whose shutdown nobody watches. Not
   * 0, which removes a pod from the API at once while its containers may still run: a pod is
   * gone only once its kubelet has stopped them, so nothing of it acts on what comes next.
   */
  gracePeriodSeconds?: number
  /** How long the pods may take to go. */
  timeoutMs?: number
}

/**
 * Deletes the namespace and returns once its pods are gone, so their GPUs are free, while the
 * namespace itself may still be terminating. The namespace controller waits five seconds before
 * it acts on a deleted namespace, by design, and then for every pod's grace period; so the
 * namespace's workloads, pods and volume claims are deleted here first, and the claims lose
 * their protection finalizer once no pod uses them: the controller then has nothing left to wait for.
 */
export async function releaseNamespace(
  kube: KubeContext,
  namespace: string,
  { gracePeriodSeconds, timeoutMs = 180_000 }: ReleaseOptions = {},
): Promise<void> {
  try {
    await kube.core.readNamespace({ name: namespace })
  } catch (error) {
    if (isNotFound(error)) return
    throw error
  }
  await deleteApiServicesInto(kube, [namespace])
  // Every controller that would recreate the pods, ReplicaSets and DaemonSets (step 06) included (the garbage
  // collector would take them only later).
  await Promise.all([
    kube.apps.deleteCollectionNamespacedStatefulSet({ namespace }),
    kube.apps.deleteCollectionNamespacedDaemonSet({ namespace }),
    kube.apps.deleteCollectionNamespacedDeployment({ namespace }),
    kube.apps.deleteCollectionNamespacedReplicaSet({ namespace }),
  ])
  await kube.core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds })
  await kube.core.deleteCollectionNamespacedPersistentVolumeClaim({ namespace })
  const { value: left, held: podsGone } = await pollUntil(
    async () => (await kube.core.listNamespacedPod({ namespace })).items.length,
    (pods) => pods === 0,
    { timeoutMs, intervalMs: 200 },
  )
  if (!podsGone)
    throw new Error(
      `${left} pods of namespace ${namespace} still there after ${timeoutMs / 1000} s: kubectl -n ${namespace} get pods shows what holds them`,
    )
  // A claim keeps its finalizer while a pod uses it; the namespace deletion then waits for it.
  for (const claim of (await kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items) {
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
  await kube.core.deleteNamespace({ name: namespace }).catch((error: unknown) => {
    if (!isNotFound(error)) throw error
  })
}

/** Releases the namespace (`releaseNamespace`) and waits until it is gone, so its name can be used again. */
export async function freshNamespace(
  kube: KubeContext,
  namespace: string,
  emit: EmitEvent,
  options: ReleaseOptions = {},
): Promise<void> {
  await releaseNamespace(kube, namespace, options)
  await deleteNamespaces(kube, [namespace], emit)
}

/** Waits until the lab's namespaces that are being deleted are gone (those left terminating in the background). */
export async function awaitLabDeletions(kube: KubeContext, timeoutMs = 180_000): Promise<void> {
  const list = await kube.core.listNamespace({ labelSelector: LAB_NAMESPACES })
  const deleting = list.items.filter((ns) => ns.metadata?.deletionTimestamp).map((ns) => ns.metadata!.name!)
  await waitUntilGone(kube, deleting, timeoutMs)
}

/** Waits until the namespaces are gone; throws, naming what to look at, when one is still there after the timeout. */
async function waitUntilGone(kube: KubeContext, names: string[], timeoutMs: number): Promise<void> {
  const stillThere = async (name: string) => {
    try {
      await kube.core.readNamespace({ name })
      return true
    } catch (error) {
      if (isNotFound(error)) return false
      throw error
    }
  }
  let remaining = names
  const { held } = await pollUntil(
    async () => {
      const present = await Promise.all(remaining.map(stillThere))
      remaining = remaining.filter((_, i) => present[i])
      return remaining
    },
    (left) => left.length === 0,
    // Reads are cheap; a namespace's last step (its finalizer removed) is seen soon after.
    { timeoutMs, intervalMs: 250 },
  )
  if (!held)
    throw new Error(
      `namespace ${remaining.join(', ')} still terminating after ${timeoutMs / 1000} s: kubectl get namespace ${remaining[0]} -o yaml shows what blocks it`,
    )
}

/**
 * Deletes what steps create outside their namespace (step 06's PriorityClasses, ClusterRoles and
 * ClusterRoleBindings; step 07's APIService), found by the
 * lab's part-of label; returns them as `kind/name`.
 */
export async function deleteClusterScoped(kube: KubeContext): Promise<string[]> {
  const labelSelector = `app.kubernetes.io/part-of=${PROJECT}`
  const rbac = kube.config.makeApiClient(RbacAuthorizationV1Api)
  const scheduling = kube.config.makeApiClient(SchedulingV1Api)
  const apiServices = kube.config.makeApiClient(ApiregistrationV1Api)
  const kinds = [
    {
      kind: 'APIService',
      list: () => apiServices.listAPIService({ labelSelector }),
      remove: (name: string) => apiServices.deleteAPIService({ name }),
    },
    {
      kind: 'PriorityClass',
      list: () => scheduling.listPriorityClass({ labelSelector }),
      remove: (name: string) => scheduling.deletePriorityClass({ name }),
    },
    {
      kind: 'ClusterRoleBinding',
      list: () => rbac.listClusterRoleBinding({ labelSelector }),
      remove: (name: string) => rbac.deleteClusterRoleBinding({ name }),
    },
    {
      kind: 'ClusterRole',
      list: () => rbac.listClusterRole({ labelSelector }),
      remove: (name: string) => rbac.deleteClusterRole({ name }),
    },
  ]
  const deleted: string[] = []
  for (const { kind, list, remove } of kinds) {
    for (const item of (await list()).items) {
      const name = item.metadata!.name!
      try {
        await remove(name)
        deleted.push(`${kind}/${name}`)
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
    }
  }
  return deleted
}
