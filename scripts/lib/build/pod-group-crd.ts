// The PodGroup CRD of scheduler-plugins' coscheduling plugin (scheduling.x-k8s.io/v1alpha1), the
// gang the lab's scheduler reads: taken from the sigs.k8s.io/scheduler-plugins Go module at the
// pinned version and kept in the cache, so the repository holds no copy that could drift.
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

export const SCHEDULER_PLUGINS_MODULE = 'sigs.k8s.io/scheduler-plugins'
export const POD_GROUP_CRD_NAME = 'podgroups.scheduling.x-k8s.io'
/** Where the module keeps the CRD its coscheduling manifests install. */
export const POD_GROUP_CRD_IN_MODULE = 'manifests/coscheduling/crd.yaml'

export const podGroupCrdPath = () =>
  join(settings.cacheDir, 'crds', `scheduler-plugins-${VERSIONS.schedulerPlugins}`, 'podgroups.yaml')

/** The one CRD of the file, checked to be the PodGroup's, so a moved or renamed file upstream fails here. */
export function podGroupCrdFrom(text: string, source: string): KubernetesObject {
  const objects = parseManifests(text, source)
  const crd = objects.find((o) => o.kind === 'CustomResourceDefinition' && o.metadata?.name === POD_GROUP_CRD_NAME)
  if (!crd || objects.length !== 1)
    throw new Error(`${source} should hold exactly the CRD ${POD_GROUP_CRD_NAME}; it holds ${objects.length} objects`)
  return crd
}

/** The module's files in the Go module cache, downloaded from the module proxy if needed. */
async function moduleDir(): Promise<string> {
  const module = `${SCHEDULER_PLUGINS_MODULE}@${VERSIONS.schedulerPlugins}`
  if (!(await hasProgram('go')))
    throw new EnvironmentError(`Go is needed to fetch ${module} from the Go module proxy. Install Go 1.25+.`)
  const info = JSON.parse(await exec('go', ['mod', 'download', '-json', module])) as { Dir?: string; Error?: string }
  if (!info.Dir) throw new EnvironmentError(`the Go module proxy did not serve ${module}: ${info.Error ?? 'no Dir'}`)
  return info.Dir
}

/** The PodGroup CRD: from the cache, else extracted from the module (and cached). */
export async function podGroupCrd(emit: EmitEvent): Promise<KubernetesObject> {
  const cached = podGroupCrdPath()
  const text = await readFile(cached, 'utf8').catch(() => undefined)
  if (text !== undefined) return podGroupCrdFrom(text, cached)
  emit({
    kind: 'progress',
    message: `extracting the PodGroup CRD from ${SCHEDULER_PLUGINS_MODULE}@${VERSIONS.schedulerPlugins}`,
  })
  const source = join(await moduleDir(), POD_GROUP_CRD_IN_MODULE)
  const upstream = await readFile(source, 'utf8')
  const crd = podGroupCrdFrom(upstream, source)
  await mkdir(join(cached, '..'), { recursive: true })
  await writeFile(`${cached}.tmp`, upstream)
  await rename(`${cached}.tmp`, cached)
  return crd
}

/** Installs the PodGroup CRD with server-side apply and waits until it is Established (the API serves the kind). */
export async function installPodGroupCrd(kube: KubeContext, emit: EmitEvent, timeoutMs = 60_000): Promise<void> {
  await apply(kube, [await podGroupCrd(emit)])
  const crds = kube.config.makeApiClient(ApiextensionsV1Api)
  const { value, held } = await pollUntil(
    () => crds.readCustomResourceDefinition({ name: POD_GROUP_CRD_NAME }),
    (crd) => Boolean(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')),
    { timeoutMs, intervalMs: 250 },
  )
  if (!held)
    throw new Error(
      `the CRD ${POD_GROUP_CRD_NAME} was not Established within ${timeoutMs / 1000} s: ${JSON.stringify(value.status?.conditions)}`,
    )
}
