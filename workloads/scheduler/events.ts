import type { CoreV1Api, V1Pod } from '@kubernetes/client-node'

/** kube-scheduler's reasons, so `kubectl describe pod` reads the same as under the default scheduler. */
export const EventReasons = { scheduled: 'Scheduled', failedScheduling: 'FailedScheduling' } as const

export interface EventLog {
  warn(details: object, message: string): void
}

/**
 * Records core/v1 Events on pods, in the pod's namespace, with `source.component` set to the
 * scheduler's name as kube-scheduler does (`default-scheduler`). Recording never fails the
 * action it reports: a refused Event is logged and dropped.
 */
export class PodEvents {
  constructor(
    private readonly core: CoreV1Api,
    private readonly schedulerName: string,
    /** The replica recording, written as the Event's reportingInstance. */
    private readonly instance: string,
    private readonly log: EventLog,
  ) {}

  async record(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date()
    const namespace = pod.metadata?.namespace ?? 'default'
    const name = pod.metadata?.name ?? ''
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace, name, uid: pod.metadata?.uid },
          type,
          reason,
          message,
          source: { component: this.schedulerName },
          reportingComponent: this.schedulerName,
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
    } catch (error) {
      this.log.warn({ err: error, reason, pod: `${namespace}/${name}` }, 'recording an event failed')
    }
  }
}
