// What a step needs on the cluster before its manifests are applied, and that no step may hold
// in its own files: the PodGroup CRD and KEDA's CRDs, which come from their projects' Go modules,
// never a committed copy. Decided from the manifests, so every path that applies a step (npm run step,
// the mutation suite, test:e2e, the kwok integration tests) gets the same.
import { hostname } from 'node:os'
import type { KubernetesObject } from '@kubernetes/client-node'
import { installKedaCrds } from './build/keda-crds.ts'
import { installPodGroupCrd } from './build/pod-group-crd.ts'
import { clusterRunsContainers, type KubeContext } from './kube.ts'
import type { EmitEvent } from './output.ts'
import { defaults as schedulerDefaults } from '../../workloads/scheduler/config.ts'
import { createSchedulerMetrics } from '../../workloads/scheduler/metrics.ts'
import { Scheduler, type SchedulerLog } from '../../workloads/scheduler/scheduler.ts'

const POD_GROUP_API = 'scheduling.x-k8s.io/'
const KEDA_API = 'keda.sh/'

/** Whether the manifests declare gangs (scheduler-plugins' PodGroup). */
export const needsPodGroupCrd = (objects: readonly KubernetesObject[]): boolean =>
  objects.some((o) => o.apiVersion?.startsWith(POD_GROUP_API))

/** Whether the manifests hold KEDA objects (a ScaledObject, a TriggerAuthentication, …). */
export const needsKedaCrds = (objects: readonly KubernetesObject[]): boolean =>
  objects.some((o) => o.apiVersion?.startsWith(KEDA_API))

/** The lab scheduler's Deployment in the manifests, if any: its namespace and --scheduler-name. */
export function labSchedulerOf(objects: readonly KubernetesObject[]): { namespace: string; name: string } | undefined {
  for (const object of objects) {
    if (object.kind !== 'Deployment') continue
    const containers =
      (object as { spec?: { template?: { spec?: { containers?: { command?: string[]; args?: string[] }[] } } } }).spec
        ?.template?.spec?.containers ?? []
    const scheduler = containers.find((c) => c.command?.includes('/app/scheduler.mjs'))
    if (!scheduler) continue
    const args = scheduler.args ?? []
    const at = args.indexOf('--scheduler-name')
    return {
      namespace: object.metadata!.namespace!,
      name: at >= 0 ? args[at + 1]! : schedulerDefaults.schedulerName,
    }
  }
  return undefined
}

const silent: SchedulerLog = { info: () => {}, warn: () => {}, debug: () => {}, child: () => silent }
const standIns = new Map<string, Scheduler>()

/**
 * On a cluster that runs no containers (kwok), the lab scheduler's pods never run, so nothing
 * would bind the step's gangs. The runner then runs the same scheduler code itself, out of the
 * cluster, as one more replica in the election on the step's Lease, for as long as the process
 * lives: the pods it binds, its Events and its refusals are the real scheduler's.
 */
function standInScheduler(kube: KubeContext, namespace: string, name: string): void {
  const key = `${kube.context}/${namespace}/${name}`
  if (standIns.has(key)) return
  const scheduler = new Scheduler({
    settings: {
      ...schedulerDefaults,
      schedulerName: name,
      namespace,
      identity: `runner-${hostname()}-${process.pid}`,
      leaseDurationMs: 8000,
      renewDeadlineMs: 5000,
      retryPeriodMs: 1000,
    },
    kubeConfig: kube.config,
    metrics: createSchedulerMetrics(),
    log: silent,
  })
  scheduler.start()
  standIns.set(key, scheduler)
}

/** Installs what the step's manifests need first; on kwok, also stands in for the lab scheduler's pods. */
export async function prepareStep(kube: KubeContext, objects: readonly KubernetesObject[], emit: EmitEvent) {
  if (needsPodGroupCrd(objects)) await installPodGroupCrd(kube, emit)
  if (needsKedaCrds(objects)) await installKedaCrds(kube, emit)
  const scheduler = labSchedulerOf(objects)
  if (scheduler && !(await clusterRunsContainers(kube))) {
    emit({
      kind: 'progress',
      message: `this cluster runs no containers: the runner runs ${scheduler.name} itself for the step's gangs`,
    })
    standInScheduler(kube, scheduler.namespace, scheduler.name)
  }
}

/** Stops the stand-in schedulers whose Lease is in `namespace`, before the namespace is deleted. */
export async function stopStandIn(kube: KubeContext, namespace: string): Promise<void> {
  const ofNamespace = [...standIns].filter(([key]) => key.startsWith(`${kube.context}/${namespace}/`))
  for (const [key] of ofNamespace) standIns.delete(key)
  await Promise.all(ofNamespace.map(([, scheduler]) => scheduler.stop()))
}

/** Stops the stand-in schedulers (tests that must end cleanly). */
export async function stopStandIns(): Promise<void> {
  await Promise.all([...standIns.values()].map((s) => s.stop()))
  standIns.clear()
}
