// What the step scripts' checks share: finding a workload's pods, reading an object that may
// not exist, and writing hints a learner can paste.
import type { V1Pod } from '@kubernetes/client-node'
import { isNotFound } from '../kube.ts'
import { NAMESPACE, type CheckEnv } from './check.ts'

/** The pods of a workload (label `app.kubernetes.io/name`), leaving out those being deleted. */
export async function podsOf(env: CheckEnv, workload: string): Promise<V1Pod[]> {
  const pods = await env.kube.core.listNamespacedPod({
    namespace: env.namespace,
    labelSelector: `app.kubernetes.io/name=${workload}`,
  })
  return pods.items.filter((pod) => !pod.metadata?.deletionTimestamp)
}

/** A pod's name, which every pod the API returns has. */
export const nameOf = (pod: V1Pod): string => pod.metadata!.name!

const readyCondition = (pod: V1Pod) => pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')

export const isReady = (pod: V1Pod): boolean => readyCondition(pod) !== undefined

/** When the pod last became Ready, or undefined while it is not Ready. */
export const readySince = (pod: V1Pod): Date | undefined => readyCondition(pod)?.lastTransitionTime

/** What the API answered, or null when the object does not exist (404). */
export async function orNull<T>(request: Promise<T>): Promise<T | null> {
  try {
    return await request
  } catch (error) {
    if (isNotFound(error)) return null
    throw error
  }
}

/** Names for a message: comma-separated, or "none". */
export const list = (items: readonly string[]): string => (items.length ? items.join(', ') : 'none')

/** A kubectl command in the step's namespace, for a hint: `kubectl(\`logs ${pod}\`)`. */
export const kubectl = (command: string): string => `kubectl -n ${NAMESPACE} ${command}`
