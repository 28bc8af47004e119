// KEDA's CRDs (keda.sh/v1alpha1): ScaledObject, which scales a workload on its triggers, and the
// TriggerAuthentication and ClusterTriggerAuthentication that its triggers may name. Taken from
// the github.com/kedacore/keda/v2 Go module at the pinned version and kept in the cache, so the
// repository holds no copy that could drift, and the API server checks a step's ScaledObject
// against KEDA's own schema. ScaledJob is left out: the lab scales servers, not jobs.
import { join } from 'node:path'
import type { KubeContext } from '../kube.ts'
import type { EmitEvent } from '../output.ts'
import { settings } from '../settings.ts'
import { VERSIONS } from './binaries.ts'
import { cachedCrds, installCrds, type CrdSource } from './crds.ts'
import { goModuleDir } from './go-module.ts'

export const KEDA_MODULE = 'github.com/kedacore/keda/v2'
/** The CRDs installed, each with the file of the module that holds it (controller-gen's names). */
export const KEDA_CRDS = [
  { name: 'scaledobjects.keda.sh', file: 'config/crd/bases/keda.sh_scaledobjects.yaml' },
  { name: 'triggerauthentications.keda.sh', file: 'config/crd/bases/keda.sh_triggerauthentications.yaml' },
  {
    name: 'clustertriggerauthentications.keda.sh',
    file: 'config/crd/bases/keda.sh_clustertriggerauthentications.yaml',
  },
] as const

const kedaCrds = (): CrdSource => ({
  cacheDir: join(settings.cacheDir, 'crds', `keda-${VERSIONS.keda}`),
  crds: KEDA_CRDS,
  fetch(emit) {
    emit({ kind: 'progress', message: `extracting KEDA's CRDs from ${KEDA_MODULE}@${VERSIONS.keda}` })
    return goModuleDir(KEDA_MODULE, VERSIONS.keda)
  },
})

/** Installs KEDA's CRDs and waits until the API serves their kinds. */
export async function installKedaCrds(kube: KubeContext, emit: EmitEvent, timeoutMs = 60_000): Promise<void> {
  await installCrds(kube, await cachedCrds(kedaCrds(), emit), timeoutMs)
}
