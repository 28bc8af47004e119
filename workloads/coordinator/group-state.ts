/**
 * Which model-server pods form one group, and whether that group is ready: pure functions of
 * the pods and of rank 0's `GET /group` answer.
 *
 * A group is a StatefulSet (step 03's shape: one group, the rank is the pod's ordinal label
 * `apps.kubernetes.io/pod-index`) or one LeaderWorkerSet replica (its `group-index` label, the
 * rank in `worker-index`). The group's size is what rank 0 answers as `nnodes`, the size it was
 * started with.
 */
import type { V1Pod } from '@kubernetes/client-node'
import type { GroupStatus } from '../model-server/group/group.ts'

/** The readiness gate's condition type: only the coordinator sets it. */
export const GROUP_READY_CONDITION = 'serving-lab.io/group-ready'

export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index'
export const LWS_NAME_LABEL = 'leaderworkerset.sigs.k8s.io/name'
export const LWS_GROUP_INDEX_LABEL = 'leaderworkerset.sigs.k8s.io/group-index'
export const LWS_WORKER_INDEX_LABEL = 'leaderworkerset.sigs.k8s.io/worker-index'

export interface PodRank {
  /** `StatefulSet/NAME` or `LeaderWorkerSet/NAME/GROUP-INDEX`. */
  group: string
  rank: number
}

const indexOf = (raw: string | undefined) => (raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined)

/** The pod's group and rank; undefined for a pod that belongs to no group the coordinator knows. */
export function rankOf(pod: V1Pod): PodRank | undefined {
  const labels = pod.metadata?.labels ?? {}
  const lws = labels[LWS_NAME_LABEL]
  const groupIndex = indexOf(labels[LWS_GROUP_INDEX_LABEL])
  const workerIndex = indexOf(labels[LWS_WORKER_INDEX_LABEL])
  if (lws && groupIndex !== undefined && workerIndex !== undefined)
    return { group: `LeaderWorkerSet/${lws}/${groupIndex}`, rank: workerIndex }
  const owner = pod.metadata?.ownerReferences?.find((ref) => ref.kind === 'StatefulSet' && ref.controller)
  const podIndex = indexOf(labels[POD_INDEX_LABEL])
  if (owner && podIndex !== undefined) return { group: `StatefulSet/${owner.name}`, rank: podIndex }
  return undefined
}

/** The pods of each group by rank. A pod being deleted is no longer a rank. */
export function groupsOf(pods: Iterable<V1Pod>): Map<string, Map<number, V1Pod>> {
  const groups = new Map<string, Map<number, V1Pod>>()
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue
    const rank = rankOf(pod)
    if (!rank) continue
    const ranks = groups.get(rank.group) ?? new Map<number, V1Pod>()
    ranks.set(rank.rank, pod)
    groups.set(rank.group, ranks)
  }
  return groups
}

/** The reason of a True condition; kwok's pod-ready stage sets readiness gates True without one. */
export const readyReason = 'GroupReady'

/** Rank 0's answer, or why there is none. */
export type ProbeResult = { ok: true; status: GroupStatus } | { ok: false; error: string }

export interface Verdict {
  ready: boolean
  /** The condition's reason: CamelCase, as Kubernetes writes them. */
  reason: string
  message: string
}

const list = (ranks: number[]) => ranks.join(', ')

/** Whether a group is ready: rank 0 says every rank joined, and every rank still has a pod. */
export function verdictOf(ranks: Map<number, V1Pod>, probe: ProbeResult | undefined): Verdict {
  if (!ranks.has(0) || !probe) return { ready: false, reason: 'LeaderMissing', message: 'rank 0 has no pod' }
  if (!probe.ok)
    return { ready: false, reason: 'LeaderUnreachable', message: `GET /group on rank 0 failed: ${probe.error}` }
  const { nnodes, state, members, generation, reason } = probe.status
  const expected = Array.from({ length: nnodes }, (_, rank) => rank)
  const withoutPod = expected.filter((rank) => !ranks.has(rank))
  if (withoutPod.length > 0)
    return { ready: false, reason: 'RankMissing', message: `rank ${list(withoutPod)} of ${nnodes} has no pod` }
  if (state !== 'ready') {
    return {
      ready: false,
      reason: state === 'broken' ? 'GroupBroken' : 'GroupForming',
      message: `rank 0 says the group is ${state}: ${reason ?? 'no reason given'}`,
    }
  }
  const notJoined = expected.filter((rank) => !members.includes(rank))
  if (notJoined.length > 0)
    return { ready: false, reason: 'RankNotJoined', message: `rank ${list(notJoined)} of ${nnodes} has not joined` }
  return { ready: true, reason: readyReason, message: `all ${nnodes} ranks joined, group generation ${generation}` }
}

/** The pod's group-ready condition as it stands, if set. */
export function conditionOf(pod: V1Pod): { status: string; reason?: string; message?: string } | undefined {
  return pod.status?.conditions?.find((condition) => condition.type === GROUP_READY_CONDITION)
}

/** True when the pod's condition already says what the verdict says. */
export function conditionMatches(pod: V1Pod, verdict: Verdict): boolean {
  const current = conditionOf(pod)
  return (
    current?.status === (verdict.ready ? 'True' : 'False') &&
    current.reason === verdict.reason &&
    current.message === verdict.message
  )
}
