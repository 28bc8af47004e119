// prometheus-operator's CRDs for the objects the lab ships its users (PodMonitor, PrometheusRule,
// and ServiceMonitor beside them): generated with controller-gen from the Go types of the
// github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring module at the pinned
// version, as prometheus-operator's own build generates them (the module proxy serves that API
// module, not the repository's root module with its YAML), and kept in the cache.
import type { KubernetesObject } from '@kubernetes/client-node'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { EnvironmentError } from '../errors.ts'
import { exec, hasProgram } from '../exec.ts'
import type { KubeContext } from '../kube.ts'
import type { EmitEvent } from '../output.ts'
import { settings } from '../settings.ts'
import { ensureControllerGen, VERSIONS } from './binaries.ts'
import { cachedCrds, installCrds, type CrdSource } from './crds.ts'

export const MONITORING_API_MODULE = 'github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring'
/** The CRDs the lab's objects need, by file name as controller-gen writes them. */
export const MONITORING_CRDS = ['podmonitors', 'servicemonitors', 'prometheusrules'].map((plural) => ({
  name: `${plural}.monitoring.coreos.com`,
  file: `monitoring.coreos.com_${plural}.yaml`,
}))

/** Runs controller-gen over the API module's v1 package in a consumer module; gives the folder it wrote. */
async function generate(emit: EmitEvent): Promise<string> {
  if (!(await hasProgram('go')))
    throw new EnvironmentError(
      `Go is needed to generate prometheus-operator's CRDs from ${MONITORING_API_MODULE}. Install Go 1.26+.`,
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
  return out
}

const monitoringCrds = (): CrdSource => ({
  cacheDir: join(settings.cacheDir, 'crds', `prometheus-operator-${VERSIONS.prometheusOperator}`),
  crds: MONITORING_CRDS,
  fetch: generate,
})

/** PodMonitor's, ServiceMonitor's and PrometheusRule's CRDs, generated once into the cache. */
export const monitoringCrdObjects = (emit: EmitEvent): Promise<KubernetesObject[]> => cachedCrds(monitoringCrds(), emit)

/** Installs PodMonitor's, ServiceMonitor's and PrometheusRule's CRDs and waits until the API serves their kinds. */
export async function installMonitoringCrds(kube: KubeContext, emit: EmitEvent, timeoutMs = 60_000): Promise<void> {
  await installCrds(kube, await monitoringCrdObjects(emit), timeoutMs)
}
