// KEDA's CRDs (keda.sh/v1alpha1): ScaledObject, which scales a workload on its triggers, and the
// TriggerAuthentication and ClusterTriggerAuthentication that its triggers may name. Taken from
// the github.com/kedacore/keda/v2 Go module at the pinned version and kept in the cache, so the
// repository holds no copy that could drift, and the API server checks a step's ScaledObject
// against KEDA's own schema. ScaledJob is left out: the lab scales servers, not jobs.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiextensionsV1Api, type KubernetesObject } from '@kubernetes/client-node'
import { EnvironmentError } from '../errors.ts'
import { exec, hasProgram } from '../exec.ts'
import { apply, type KubeContext } from '../kube.ts'
import { parseManifests } from '../manifests.ts'
import type { EmitEvent } from '../output.ts'
import { pollUntil } from '../poll.ts'
import { settings } from '../settings.ts'
import { VERSIONS } from './binaries.ts'

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

const kedaCrdDir = () => join(settings.cacheDir, 'crds', `keda-${VERSIONS.keda}`)

/** The one CRD of a file, checked to be `name`, so a moved or renamed file upstream fails here. */
export function kedaCrdFrom(text: string, name: string, source: string): KubernetesObject {
  const objects = parseManifests(text, source)
  const crd = objects.find((o) => o.kind === 'CustomResourceDefinition' && o.metadata?.name === name)
  if (!crd || objects.length !== 1)
    throw new Error(`${source} should hold exactly the CRD ${name}; it holds ${objects.length} objects`)
  return crd
}

/** The module's files in the Go module cache, downloaded from the module proxy if needed. */
async function moduleDir(): Promise<string> {
  const module = `${KEDA_MODULE}@${VERSIONS.keda}`
  if (!(await hasProgram('go')))
    throw new EnvironmentError(`Go is needed to fetch ${module} from the Go module proxy. Install Go 1.25+.`)
  const info = JSON.parse(await exec('go', ['mod', 'download', '-json', module])) as { Dir?: string; Error?: string }
  if (!info.Dir) throw new EnvironmentError(`the Go module proxy did not serve ${module}: ${info.Error ?? 'no Dir'}`)
  return info.Dir
}

/** KEDA's CRDs: from the cache, else extracted from the module (and cached). */
export async function kedaCrds(emit: EmitEvent): Promise<KubernetesObject[]> {
  const crds: KubernetesObject[] = []
  let dir: string | undefined
  for (const { name, file } of KEDA_CRDS) {
    const cached = join(kedaCrdDir(), `${name}.yaml`)
    const text = await readFile(cached, 'utf8').catch(() => undefined)
    if (text !== undefined) {
      crds.push(kedaCrdFrom(text, name, cached))
      continue
    }
    if (!dir) {
      emit({ kind: 'progress', message: `extracting KEDA's CRDs from ${KEDA_MODULE}@${VERSIONS.keda}` })
      dir = await moduleDir()
    }
    const source = join(dir, file)
    const upstream = await readFile(source, 'utf8')
    crds.push(kedaCrdFrom(upstream, name, source))
    await mkdir(kedaCrdDir(), { recursive: true })
    await writeFile(`${cached}.tmp`, upstream)
    await rename(`${cached}.tmp`, cached)
  }
  return crds
}

/** Installs KEDA's CRDs with server-side apply and waits until each is Established (the API serves the kind). */
export async function installKedaCrds(kube: KubeContext, emit: EmitEvent, timeoutMs = 60_000): Promise<void> {
  await apply(kube, await kedaCrds(emit))
  const api = kube.config.makeApiClient(ApiextensionsV1Api)
  for (const { name } of KEDA_CRDS) {
    const { value, held } = await pollUntil(
      () => api.readCustomResourceDefinition({ name }),
      (crd) => Boolean(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')),
      { timeoutMs, intervalMs: 250 },
    )
    if (!held)
      throw new Error(
        `the CRD ${name} was not Established within ${timeoutMs / 1000} s: ${JSON.stringify(value.status?.conditions)}`,
      )
  }
}
