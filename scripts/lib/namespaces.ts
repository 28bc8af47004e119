import { RbacAuthorizationV1Api, SchedulingV1Api } from '@kubernetes/client-node'
import { isNotFound, type KubeContext } from './kube.ts'
import type { EmitEvent } from './output.ts'
import { pollUntil } from './poll.ts'
import { PROJECT } from './project.ts'

/** Namespaces the lab created: every step's namespace carries the `part-of` label. */
export async function labNamespaces(kube: KubeContext): Promise<string[]> {
  const list = await kube.core.listNamespace({ labelSelector: `app.kubernetes.io/part-of=${PROJECT}` })
  return list.items.map((ns) => ns.metadata!.name!)
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
  for (const name of names) {
    try {
      await kube.core.deleteNamespace({ name })
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
  }
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
    { timeoutMs },
  )
  if (!held)
    throw new Error(
      `namespace ${remaining.join(', ')} still terminating after ${timeoutMs / 1000} s: kubectl get namespace ${remaining[0]} -o yaml shows what blocks it`,
    )
}

/**
 * Deletes what steps create outside any namespace (step 06's PriorityClasses, ClusterRoles and
 * ClusterRoleBindings), found by the lab's part-of label; returns them as `kind/name`.
 */
export async function deleteClusterScoped(kube: KubeContext): Promise<string[]> {
  const labelSelector = `app.kubernetes.io/part-of=${PROJECT}`
  const rbac = kube.config.makeApiClient(RbacAuthorizationV1Api)
  const scheduling = kube.config.makeApiClient(SchedulingV1Api)
  const kinds = [
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
