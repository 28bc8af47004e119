// The PodGroup CRD of scheduler-plugins' coscheduling plugin (scheduling.x-k8s.io/v1alpha1), the
// gang the lab's scheduler reads: taken from the sigs.k8s.io/scheduler-plugins Go module at the
// pinned version and kept in the cache, so the repository holds no copy that could drift.
import { join } from 'node:path'
import type { KubeContext } from '../kube.ts'
import type { EmitEvent } from '../output.ts'
import { settings } from '../settings.ts'
import { VERSIONS } from './binaries.ts'
import { cachedCrds, installCrds, type CrdSource } from './crds.ts'
import { goModuleDir } from './go-module.ts'

export const SCHEDULER_PLUGINS_MODULE = 'sigs.k8s.io/scheduler-plugins'
export const POD_GROUP_CRD_NAME = 'podgroups.scheduling.x-k8s.io'
/** Where the module keeps the CRD its coscheduling manifests install. */
export const POD_GROUP_CRD_IN_MODULE = 'manifests/coscheduling/crd.yaml'

const podGroupCrd = (): CrdSource => ({
  cacheDir: join(settings.cacheDir, 'crds', `scheduler-plugins-${VERSIONS.schedulerPlugins}`),
  crds: [{ name: POD_GROUP_CRD_NAME, file: POD_GROUP_CRD_IN_MODULE }],
  fetch(emit) {
    emit({
      kind: 'progress',
      message: `extracting the PodGroup CRD from ${SCHEDULER_PLUGINS_MODULE}@${VERSIONS.schedulerPlugins}`,
    })
    return goModuleDir(SCHEDULER_PLUGINS_MODULE, VERSIONS.schedulerPlugins)
  },
})

/** Installs the PodGroup CRD and waits until the API serves the kind. */
export async function installPodGroupCrd(kube: KubeContext, emit: EmitEvent, timeoutMs = 60_000): Promise<void> {
  await installCrds(kube, await cachedCrds(podGroupCrd(), emit), timeoutMs)
}
