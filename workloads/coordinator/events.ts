import type { CoreV1Api, V1ObjectReference } from '@kubernetes/client-node'

/** The reasons the coordinator records, in the order a healthy start shows them. */
export const EventReasons = {
  leaderElected: 'LeaderElected',
  configAccepted: 'ConfigAccepted',
  configRejected: 'ConfigRejected',
  groupFormed: 'GroupFormed',
  groupBroken: 'GroupBroken',
} as const

export interface EventLog {
  info(details: object, message: string): void
  warn(details: object, message: string): void
}

/** What a step's check reads: `kubectl get events --field-selector source=coordinator` lists them in order. */
export const EVENT_COMPONENT = 'coordinator'

/**
 * Records core/v1 Events about the objects the coordinator acts on, so the order of what it
 * observed can be read back from the API. Recording never fails the action it reports: a refused
 * Event is logged and dropped.
 */
export class EventRecorder {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
    /** The replica recording, written as the Event's reportingInstance. */
    private readonly instance: string,
    private readonly log: EventLog,
  ) {}

  async record(
    involved: V1ObjectReference,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date()
    const namespace = this.namespace
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${involved.name ?? 'coordinator'}.`, namespace },
          involvedObject: { namespace, ...involved },
          type,
          reason,
          message,
          source: { component: EVENT_COMPONENT },
          reportingComponent: `serving-lab.io/${EVENT_COMPONENT}`,
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      this.log.info({ event: { reason, type, object: `${involved.kind}/${involved.name}`, message } }, 'event recorded')
    } catch (error) {
      this.log.warn({ err: error, reason, object: `${involved.kind}/${involved.name}` }, 'recording an event failed')
    }
  }
}
