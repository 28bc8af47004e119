/**
 * What the scheduler writes into status, as kube-scheduler and scheduler-plugins do:
 *
 * - a pod it cannot place gets the condition `PodScheduled=False`, reason `Unschedulable`, with
 *   the same message as its FailedScheduling Event (through `pods/status`), so `kubectl get pod`
 *   and `describe` say why; the API server sets `PodScheduled=True` itself when a Binding lands;
 * - a PodGroup gets `status.phase` from scheduler-plugins' phases: `Pending` while the gang
 *   cannot be placed, `Scheduling` once its minMember pods are bound (scheduler-plugins' word
 *   for "scheduled, not yet running"), and `scheduleStartTime` when it was first tried.
 *   `Running`, `Finished` and the pod counts are its PodGroup controller's to write, which the
 *   lab does not run.
 *
 * Both are merge patches of one field each, so they never overwrite what others wrote. A
 * refused write is logged and dropped: status is a report, not the decision.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import type { CoreV1Api, CustomObjectsApi, V1Pod } from '@kubernetes/client-node'
import type { EventLog } from './events.ts'
import { POD_GROUPS, type PodGroup } from './gangs.ts'

export type PodGroupPhase = 'Pending' | 'Scheduling'

export class StatusWriter {
  constructor(
    private readonly core: CoreV1Api,
    private readonly custom: CustomObjectsApi,
    private readonly log: EventLog,
  ) {}

  /** `PodScheduled=False, Unschedulable` with the message; the condition list merges by type. */
  async unschedulable(pod: V1Pod, message: string): Promise<void> {
    const name = pod.metadata?.name ?? ''
    const namespace = pod.metadata?.namespace ?? ''
    const condition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message,
      lastProbeTime: null,
      lastTransitionTime: new Date().toISOString(),
    }
    try {
      await this.core.patchNamespacedPodStatus(
        { name, namespace, body: { status: { conditions: [condition] } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      )
    } catch (error) {
      this.log.warn({ err: error, pod: `${namespace}/${name}` }, 'writing PodScheduled=False failed')
    }
  }

  /** The PodGroup's phase, unless it says so already (or says more: Running, Finished, Failed). */
  async podGroupPhase(group: PodGroup | undefined, phase: PodGroupPhase): Promise<void> {
    const current = (group as { status?: { phase?: string; scheduleStartTime?: string } } | undefined)?.status
    if (!group?.metadata?.name || current?.phase === phase) return
    if (current?.phase && !['Pending', 'Scheduling', 'Unknown', ''].includes(current.phase)) return
    const status: Record<string, string> = { phase }
    if (!current?.scheduleStartTime) status.scheduleStartTime = new Date().toISOString()
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        { ...POD_GROUPS, namespace: group.metadata.namespace ?? '', name: group.metadata.name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
    } catch (error) {
      this.log.warn({ err: error, podGroup: group.metadata.name }, 'writing the PodGroup phase failed')
    }
  }
}
