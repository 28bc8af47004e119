// Step 06 on a cluster that runs no containers (kwok): the lab scheduler's pods never run, so
// nothing would bind the step's gangs. The runner then runs the same scheduler code itself, out
// of the cluster, as one more replica in the election on the step's Lease, for as long as the
// process lives: the pods it binds, its Events and its refusals are the real scheduler's.
import { hostname } from 'node:os'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { KubeContext } from './kube.ts'
import { hasStandIn, keepStandIn } from './stand-ins.ts'
import { defaults as schedulerDefaults } from '../../workloads/scheduler/config.ts'
import { createSchedulerMetrics } from '../../workloads/scheduler/metrics.ts'
import { Scheduler, type SchedulerLog } from '../../workloads/scheduler/scheduler.ts'

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

/** Runs the scheduler `name` for `namespace`, unless the runner already does. */
export async function standInScheduler(kube: KubeContext, namespace: string, name: string): Promise<void> {
  if (hasStandIn(kube, namespace, name)) return
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
  keepStandIn(kube, namespace, name, { stop: () => scheduler.stop() })
}
