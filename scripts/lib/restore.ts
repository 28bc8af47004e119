// Brings a backup (backup.ts) back: into its own namespace or another one, by server-side apply
// with the lab's field manager, then waits for the rollout. It refuses, before applying anything,
// a namespace that already holds objects and a cluster that does not serve a type the backup needs.
import type { KubernetesObject } from '@kubernetes/client-node'
import { collectionPath, discoverResourceTypes, getJson, type Discovery } from './api-discovery.ts'
import { namespaceObjects, typeOf, type Backup } from './backup.ts'
import { inApplyOrder } from './backup-clean.ts'
import { EnvironmentError } from './errors.ts'
import { apply, type KubeContext } from './kube.ts'
import { inNamespace } from './mutations/namespace-copy.ts'
import { deleteNamespaces, isTerminating } from './namespaces.ts'
import type { EmitEvent } from './output.ts'
import { waitForRollout } from './rollout.ts'

export interface RestoreOptions {
  /** Restore into this namespace instead of the one backed up. */
  namespace?: string
  /** Apply over objects the namespace already holds. */
  force?: boolean
  emit: EmitEvent
  timeoutMs?: number
}

export interface RestoreResult {
  namespace: string
  applied: number
  /** Workloads not rolled out when the wait ended (empty when all are). */
  pending: string[]
  /** From the start of the restore until every workload rolled out (or the wait ended). */
  durationMs: number
}

/** CRDs the lab installs itself, with the command that does. */
const LAB_CRD_COMMANDS: Record<string, string> = {
  'podgroups.scheduling.x-k8s.io':
    "npm run step 06 installs it, and applies step 06 (restore over that with --force; it frees the other steps' namespaces)",
}

/** Refuses with the missing CRD named and how to install it, when the cluster does not serve an object's type. */
export function checkServed(
  discovery: Discovery,
  objects: readonly KubernetesObject[],
  crds: readonly string[],
  sourceContext: string,
): void {
  for (const object of objects) {
    if (typeOf(discovery, object)) continue
    const group = object.apiVersion?.split('/')[0] ?? ''
    const crd = crds.find((name) => name.endsWith(`.${group}`) && object.apiVersion?.includes('/'))
    const what = `${object.kind}/${object.metadata?.name} (${object.apiVersion})`
    if (!crd)
      throw new EnvironmentError(`this cluster does not serve ${what}, which the backup needs: no API serves that kind`)
    const install = [
      LAB_CRD_COMMANDS[crd],
      `copy it from the cluster backed up: kubectl --context ${sourceContext} get crd ${crd} -o yaml | kubectl apply --server-side -f -`,
    ]
      .filter(Boolean)
      .join('; or ')
    throw new EnvironmentError(
      `this cluster lacks the CustomResourceDefinition ${crd}, which ${what} needs. Install it first: ${install}`,
    )
  }
}

const label = (object: KubernetesObject) => `${object.kind}/${object.metadata?.name}`

/** Applies the backup and waits for its workloads; returns how long it took. */
export async function restore(
  kube: KubeContext,
  backup: Pick<Backup, 'header' | 'objects'>,
  { namespace = backup.header.namespace, force = false, emit, timeoutMs = 240_000 }: RestoreOptions,
): Promise<RestoreResult> {
  const started = performance.now()
  const from = backup.header.namespace
  let objects = namespace === from ? backup.objects : inNamespace(backup.objects, from, namespace)
  const discovery = await discoverResourceTypes(kube)
  checkServed(discovery, objects, backup.header.crds, backup.header.context)

  if (await isTerminating(kube, namespace)) {
    emit({ kind: 'progress', message: `${namespace} is still being deleted: waiting until it is gone` })
    await deleteNamespaces(kube, [namespace], emit)
  }
  const present = await namespaceObjects(kube, discovery, namespace, { leases: new Set() })
  if (present.kept.length > 0 && !force)
    throw new EnvironmentError(
      `namespace ${namespace} already holds ${present.kept.length} objects (${present.kept.slice(0, 4).map(label).join(', ')}…): ` +
        'restore into another one with --namespace NEW, delete it first, or add --force to apply over them',
    )

  if (namespace !== from) objects = await withoutSharedClusterObjects(kube, discovery, objects, emit)
  emit({ kind: 'phase', phase: `restoring into ${namespace}`, detail: `${objects.length} objects, server-side apply` })
  await apply(kube, inApplyOrder(objects))
  emit({ kind: 'phase', phase: 'waiting for the rollout' })
  const pending = await waitForRollout(kube, namespace, emit, { timeoutMs })
  return { namespace, applied: objects.length, pending, durationMs: performance.now() - started }
}

/**
 * A copy into another namespace leaves out the cluster-scoped objects the cluster already holds
 * (a ClusterRoleBinding, an APIService): there is one of each per cluster, and applying the
 * copy's would take them from the original namespace.
 */
async function withoutSharedClusterObjects(
  kube: KubeContext,
  discovery: Discovery,
  objects: KubernetesObject[],
  emit: EmitEvent,
): Promise<KubernetesObject[]> {
  const kept: KubernetesObject[] = []
  for (const object of objects) {
    const type = typeOf(discovery, object)
    if (type && !type.namespaced && object.kind !== 'Namespace') {
      const exists = await getJson(kube, `${collectionPath(type)}/${object.metadata!.name}`).then(
        () => true,
        (error: { status?: number }) => {
          if (error.status === 404) return false
          throw error
        },
      )
      if (exists) {
        emit({
          kind: 'notice',
          level: 'warn',
          message: `${label(object)} exists already and stays as it is (one per cluster, it serves the original namespace)`,
        })
        continue
      }
    }
    kept.push(object)
  }
  return kept
}
