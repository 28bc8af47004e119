// prometheus-operator's CRDs for the objects the lab ships its users (PodMonitor, PrometheusRule,
// and ServiceMonitor beside them): generated with controller-gen from the Go types of the
// github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring module at the pinned
// version, as prometheus-operator's own build generates them (the module proxy serves that API
// module, not the repository's root module with its YAML), and kept in the cache.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiextensionsV1Api, type KubernetesObject } from '@kubernetes/client-node'
import { EnvironmentError } from '../errors.ts'
import { exec, hasProgram } from '../exec.ts'
import { apply, type KubeContext } from '../kube.ts'
import { parseManifests } from '../manifests.ts'
import type { EmitEvent } from '../output.ts'
import { pollUntil } from '../poll.ts'
import { settings } from '../settings.ts'
import { ensureControllerGen, VERSIONS } from './binaries.ts'

export const MONITORING_API_MODULE = 'github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring'
/** The CRDs the lab's objects need, by file name as controller-gen writes them. */
export const MONITORING_CRDS = ['podmonitors', 'servicemonitors', 'prometheusrules'].map((plural) => ({
  name: `${plural}.monitoring.coreos.com`,
  file: `monitoring.coreos.com_${plural}.yaml`,
}))

const crdDir = () => join(settings.cacheDir, 'crds', `prometheus-operator-${VERSIONS.prometheusOperator}`)

/** The one CRD a generated file holds, checked to be the one expected. */
export function monitoringCrdFrom(text: string, name: string, source: string): KubernetesObject {
  const objects = parseManifests(text, source)
  const crd = objects[0]
  if (objects.length !== 1 || crd?.kind !== 'CustomResourceDefinition' || crd.metadata?.name !== name)
    throw new Error(`${source} should hold exactly the CRD ${name}`)
  return crd
}

/** Runs controller-gen over the API module's v1 package in a consumer module, and caches the files needed. */
async function generate(emit: EmitEvent): Promise<void> {
  if (!(await hasProgram('go')))
    throw new EnvironmentError(
      `Go is needed to generate prometheus-operator's CRDs from ${MONITORING_API_MODULE}. Install Go 1.25+.`,
    )
  const controllerGen = await ensureControllerGen(emit)
  emit({
    kind: 'progress',
    message: `generating prometheus-operator's CRDs from ${MONITORING_API_MODULE}@${VERSIONS.prometheusOperator}`,
  })
  const work = join(settings.cacheDir, 'build', `prometheus-operator-crds-${VERSIONS.prometheusOperator}`)
  await mkdir(work, { recursive: true })
  await writeFile(
    join(work, 'go.mod'),
    `module serving-lab.local/monitoring-crds\n\ngo 1.25.0\n\nrequire ${MONITORING_API_MODULE} ${VERSIONS.prometheusOperator}\n`,
  )
  await writeFile(join(work, 'tools.go'), `package crds\n\nimport _ "${MONITORING_API_MODULE}/v1"\n`)
  const env = { ...process.env, GOFLAGS: '-mod=mod' }
  await exec('go', ['mod', 'tidy'], { cwd: work, env })
  const out = join(work, 'out')
  await rm(out, { recursive: true, force: true })
  await exec(controllerGen, ['crd:crdVersions=v1', `paths=${MONITORING_API_MODULE}/v1`, `output:crd:dir=${out}`], {
    cwd: work,
    env,
  })
  const staging = `${crdDir()}.tmp`
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  for (const { name, file } of MONITORING_CRDS) {
    const text = await readFile(join(out, file), 'utf8')
    monitoringCrdFrom(text, name, file)
    await writeFile(join(staging, file), text)
  }
  await rm(crdDir(), { recursive: true, force: true })
  await rename(staging, crdDir())
}

/** PodMonitor's, ServiceMonitor's and PrometheusRule's CRDs: from the cache, else generated (and cached). */
export async function monitoringCrds(emit: EmitEvent): Promise<KubernetesObject[]> {
  const read = () =>
    Promise.all(
      MONITORING_CRDS.map(async ({ name, file }) =>
        monitoringCrdFrom(await readFile(join(crdDir(), file), 'utf8'), name, file),
      ),
    )
  try {
    return await read()
  } catch {
    await generate(emit)
    return read()
  }
}

/** Installs the CRDs with server-side apply and waits until each is Established. */
export async function installMonitoringCrds(kube: KubeContext, emit: EmitEvent, timeoutMs = 60_000): Promise<void> {
  await apply(kube, await monitoringCrds(emit))
  const crds = kube.config.makeApiClient(ApiextensionsV1Api)
  for (const { name } of MONITORING_CRDS) {
    const { value, held } = await pollUntil(
      () => crds.readCustomResourceDefinition({ name }),
      (crd) => Boolean(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')),
      { timeoutMs, intervalMs: 250 },
    )
    if (!held)
      throw new Error(
        `the CRD ${name} was not Established within ${timeoutMs / 1000} s: ${JSON.stringify(value.status)}`,
      )
  }
}
