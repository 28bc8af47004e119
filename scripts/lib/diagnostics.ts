import type { V1Pod } from '@kubernetes/client-node'
import { errorMessage } from './errors.ts'
import type { KubeContext } from './kube.ts'

const LOG_LINES = 12
const EVENTS = 8

/**
 * What a failed step's namespace looks like, read right after its checks, before the next step
 * or a rerun deletes it: every pod with its state, the latest warning events, and the last lines
 * each container logged. A failure in CI is then explained by its own output.
 */
export async function describeNamespace(kube: KubeContext, namespace: string): Promise<string[]> {
  try {
    const [pods, events] = await Promise.all([
      kube.core.listNamespacedPod({ namespace }),
      kube.core.listNamespacedEvent({ namespace }),
    ])
    const lines = [`pods in ${namespace}:`, ...pods.items.map(podLine)]
    const warnings = events.items
      .filter((event) => event.type === 'Warning')
      .sort((a, b) => eventTime(a) - eventTime(b))
      .slice(-EVENTS)
    if (warnings.length > 0) {
      lines.push('warning events:')
      for (const event of warnings)
        lines.push(`  ${event.involvedObject.kind}/${event.involvedObject.name}: ${event.reason}: ${event.message}`)
    }
    for (const pod of pods.items) {
      for (const container of pod.spec?.containers ?? []) {
        const name = pod.metadata!.name!
        lines.push(`last ${LOG_LINES} log lines of ${name}/${container.name}:`)
        const log = await kube.core
          .readNamespacedPodLog({ name, namespace, container: container.name, tailLines: LOG_LINES })
          .catch((error: unknown) => `(no log: ${errorMessage(error)})`)
        lines.push(
          ...String(log)
            .trimEnd()
            .split('\n')
            .map((line) => `  ${line}`),
        )
      }
    }
    return lines
  } catch (error) {
    return [`could not describe ${namespace}: ${errorMessage(error)}`]
  }
}

function podLine(pod: V1Pod): string {
  const statuses = pod.status?.containerStatuses ?? []
  const ready = statuses.filter((s) => s.ready).length
  const restarts = statuses.reduce((sum, s) => sum + s.restartCount, 0)
  const deleting = pod.metadata?.deletionTimestamp ? ', deleting' : ''
  return `  ${pod.metadata!.name} ${pod.status?.phase ?? 'Unknown'}${deleting}, ready ${ready}/${pod.spec?.containers.length ?? 0}, restarts ${restarts}, node ${pod.spec?.nodeName ?? 'none'}, IP ${pod.status?.podIP ?? 'none'}`
}

const eventTime = (event: { lastTimestamp?: Date; eventTime?: Date; metadata: { creationTimestamp?: Date } }) =>
  new Date(event.lastTimestamp ?? event.eventTime ?? event.metadata.creationTimestamp ?? 0).getTime()
