// What a step needs on the cluster before its manifests are applied, and that no step may hold
// in its own files: the PodGroup CRD and KEDA's CRDs, which come from their projects' Go modules,
// never a committed copy; and on a cluster that runs no containers (kwok), what the runner runs
// itself in place of the step's pods (stand-ins.ts). Decided from the manifests, so every path
// that applies a step (npm run step, the mutation suite, test:e2e, the kwok integration tests)
// gets the same.
import type { KubernetesObject } from '@kubernetes/client-node'
import { installKedaCrds } from './build/keda-crds.ts'
import { installPodGroupCrd } from './build/pod-group-crd.ts'
import { clusterRunsContainers, type KubeContext } from './kube.ts'
import { metricsAdapterOf, standInMetricsAdapter } from './metrics-adapter-stand-in.ts'
import type { EmitEvent } from './output.ts'
import { labSchedulerOf, standInScheduler } from './scheduler-stand-in.ts'

const POD_GROUP_API = 'scheduling.x-k8s.io/'
const KEDA_API = 'keda.sh/'

/** Whether the manifests declare gangs (scheduler-plugins' PodGroup). */
export const needsPodGroupCrd = (objects: readonly KubernetesObject[]): boolean =>
  objects.some((o) => o.apiVersion?.startsWith(POD_GROUP_API))

/** Whether the manifests hold KEDA objects (a ScaledObject, a TriggerAuthentication, …). */
export const needsKedaCrds = (objects: readonly KubernetesObject[]): boolean =>
  objects.some((o) => o.apiVersion?.startsWith(KEDA_API))

const noContainers = 'this cluster runs no containers: the runner runs'

/** Installs what the step's manifests need first; on kwok, also stands in for the lab scheduler's pods. */
export async function prepareStep(kube: KubeContext, objects: readonly KubernetesObject[], emit: EmitEvent) {
  if (needsPodGroupCrd(objects)) await installPodGroupCrd(kube, emit)
  if (needsKedaCrds(objects)) await installKedaCrds(kube, emit)
  const scheduler = labSchedulerOf(objects)
  if (scheduler && !(await clusterRunsContainers(kube))) {
    emit({ kind: 'progress', message: `${noContainers} ${scheduler.name} itself for the step's gangs` })
    await standInScheduler(kube, scheduler.namespace, scheduler.name)
  }
}

/**
 * Once the step's manifests are applied, on kwok: the runner stands in for step 07's metrics
 * adapter, which needs the step's Service and APIService to exist.
 */
export async function afterApply(kube: KubeContext, objects: readonly KubernetesObject[], emit: EmitEvent) {
  if (!metricsAdapterOf(objects) || (await clusterRunsContainers(kube))) return
  emit({
    kind: 'progress',
    message: `${noContainers} the metrics adapter and a model server itself, reached through an ExternalName Service`,
  })
  await standInMetricsAdapter(kube, objects)
}
