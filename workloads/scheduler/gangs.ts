/**
 * Gangs: the pods that must be placed together. A pod labelled
 * `scheduling.x-k8s.io/pod-group: NAME` belongs to the PodGroup NAME in its namespace
 * (scheduler-plugins' coscheduling API, `scheduling.x-k8s.io/v1alpha1`), which says in
 * `spec.minMember` how many members must run for the group to be of any use. A pod without the
 * label is a gang of one.
 *
 * A gang is ready to place once its members bound and pending reach minMember; then all its
 * pending members are placed at once or not at all. A labelled pod whose PodGroup does not
 * exist waits, as under coscheduling.
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node'
import { GPU_MEMORY_ANNOTATION, memoryNeed, podGpus } from '../shared/pod-gpus.ts'

export { GPU_MEMORY_ANNOTATION }

/** scheduler-plugins' PodGroup API, for the custom-objects calls. */
export const POD_GROUPS = { group: 'scheduling.x-k8s.io', version: 'v1alpha1', plural: 'podgroups' } as const

export const POD_GROUP_LABEL = 'scheduling.x-k8s.io/pod-group'

export interface PodGroup extends KubernetesObject {
  spec?: { minMember?: number; scheduleTimeoutSeconds?: number }
}

/** One pod to place: its key, and what it needs. */
export interface Member {
  /** `namespace/name`. */
  key: string
  pod: V1Pod
  gpus: number
  /** Per-GPU memory need in MiB; 0 when the pod states none. */
  gpuMemoryMiB: number
}

export interface Gang {
  /** `namespace/group` for a PodGroup, `namespace/pod` for a lone pod. */
  key: string
  /** The PodGroup's name, undefined for a lone pod. */
  podGroup: string | undefined
  namespace: string
  minMember: number
  /** Pending members, oldest first. */
  pending: Member[]
  /** Members already bound. */
  bound: number
  /** Why the gang cannot be placed yet; undefined when it is ready. */
  waiting: string | undefined
  /** The oldest member's creation time, in ms: gangs are tried oldest first. */
  createdMs: number
}

export const podKey = (pod: KubernetesObject) => `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`
const createdMs = (object: KubernetesObject) => new Date(object.metadata?.creationTimestamp ?? 0).getTime()

export function memberOf(pod: V1Pod): Member {
  return { key: podKey(pod), pod, gpus: podGpus(pod), gpuMemoryMiB: memoryNeed(pod) }
}

/**
 * Groups the pending pods into gangs, counting each PodGroup's members already bound, oldest
 * gang first. `pending` are the pods this scheduler should place; `bound` every pod of the
 * scheduler already on a node.
 */
export function assembleGangs(pending: Iterable<V1Pod>, bound: Iterable<V1Pod>, podGroups: Iterable<PodGroup>): Gang[] {
  const groups = new Map<string, PodGroup>()
  for (const group of podGroups) groups.set(podKey(group), group)
  const boundCount = new Map<string, number>()
  for (const pod of bound) {
    const group = pod.metadata?.labels?.[POD_GROUP_LABEL]
    if (group)
      boundCount.set(
        `${pod.metadata?.namespace}/${group}`,
        (boundCount.get(`${pod.metadata?.namespace}/${group}`) ?? 0) + 1,
      )
  }
  const gangs = new Map<string, Gang>()
  for (const pod of pending) {
    const namespace = pod.metadata?.namespace ?? ''
    const podGroup = pod.metadata?.labels?.[POD_GROUP_LABEL] || undefined
    const key = podGroup ? `${namespace}/${podGroup}` : podKey(pod)
    let gang = gangs.get(key)
    if (!gang) {
      const group = podGroup ? groups.get(key) : undefined
      gang = {
        key,
        podGroup,
        namespace,
        minMember: podGroup ? Math.max(1, group?.spec?.minMember ?? 1) : 1,
        pending: [],
        bound: podGroup ? (boundCount.get(key) ?? 0) : 0,
        waiting: podGroup && !group ? `PodGroup ${key} does not exist` : undefined,
        createdMs: group ? createdMs(group) : Infinity,
      }
      gangs.set(key, gang)
    }
    gang.pending.push(memberOf(pod))
    gang.createdMs = Math.min(gang.createdMs, createdMs(pod))
  }
  for (const gang of gangs.values()) {
    gang.pending.sort((a, b) => createdMs(a.pod) - createdMs(b.pod) || a.key.localeCompare(b.key))
    const have = gang.bound + gang.pending.length
    if (!gang.waiting && have < gang.minMember)
      gang.waiting = `waiting for members: ${have} of minMember ${gang.minMember} exist`
    const bad = gang.pending.find((m) => Number.isNaN(m.gpuMemoryMiB))
    if (bad) gang.waiting = `pod ${bad.key}: annotation ${GPU_MEMORY_ANNOTATION} is not a whole number of MiB`
  }
  return [...gangs.values()].sort((a, b) => a.createdMs - b.createdMs || a.key.localeCompare(b.key))
}
