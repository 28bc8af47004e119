import type { V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import type { GroupStatus } from '../../workloads/model-server/group/group.ts'
import {
  conditionMatches,
  GROUP_READY_CONDITION,
  groupsOf,
  rankOf,
  verdictOf,
} from '../../workloads/coordinator/group-state.ts'

const statefulSetPod = (name: string, index: string, extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({
  metadata: {
    name: `${name}-${index}`,
    labels: { 'apps.kubernetes.io/pod-index': index },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid: 'u', controller: true }],
    ...extra,
  },
})
const lwsPod = (group: string, worker: string): V1Pod => ({
  metadata: {
    name: `llama-${group}-${worker}`,
    labels: {
      'leaderworkerset.sigs.k8s.io/name': 'llama',
      'leaderworkerset.sigs.k8s.io/group-index': group,
      'leaderworkerset.sigs.k8s.io/worker-index': worker,
    },
  },
})
const status = (overrides: Partial<GroupStatus>): GroupStatus => ({
  nodeRank: 0,
  nnodes: 2,
  gpusPerNode: 1,
  worldSize: 2,
  globalRanks: [0],
  leader: '127.0.0.1:29500',
  state: 'ready',
  generation: 1,
  members: [0, 1],
  reason: null,
  ...overrides,
})
const ranksOf = (pods: V1Pod[]) => [...groupsOf(pods).values()][0]!

describe('group membership', () => {
  it('takes a StatefulSet pod rank from its ordinal label, and an LWS pod from its group and worker index', () => {
    expect(rankOf(statefulSetPod('llama', '1'))).toEqual({ group: 'StatefulSet/llama', rank: 1 })
    expect(rankOf(lwsPod('2', '0'))).toEqual({ group: 'LeaderWorkerSet/llama/2', rank: 0 })
    expect(rankOf({ metadata: { name: 'loose', labels: { 'apps.kubernetes.io/pod-index': '0' } } })).toBeUndefined()
  })

  it('groups pods, leaving out those being deleted', () => {
    const groups = groupsOf([
      lwsPod('0', '0'),
      lwsPod('0', '1'),
      lwsPod('1', '0'),
      statefulSetPod('other', '0', { deletionTimestamp: new Date() }),
    ])
    expect([...groups.keys()].sort()).toEqual(['LeaderWorkerSet/llama/0', 'LeaderWorkerSet/llama/1'])
    expect([...groups.get('LeaderWorkerSet/llama/0')!.keys()]).toEqual([0, 1])
  })
})

describe('group verdict', () => {
  const both = ranksOf([statefulSetPod('llama', '0'), statefulSetPod('llama', '1')])

  it('is ready when rank 0 says ready with every member and every rank has a pod', () => {
    expect(verdictOf(both, { ok: true, status: status({}) })).toEqual({
      ready: true,
      reason: 'GroupReady',
      message: 'all 2 ranks joined, group generation 1',
    })
  })

  it.each([
    ['no rank 0', ranksOf([statefulSetPod('llama', '1')]), { ok: true as const, status: status({}) }, 'LeaderMissing'],
    ['rank 0 unreachable', both, { ok: false as const, error: 'ECONNREFUSED' }, 'LeaderUnreachable'],
    [
      'a rank without a pod',
      ranksOf([statefulSetPod('llama', '0')]),
      { ok: true as const, status: status({}) },
      'RankMissing',
    ],
    ['forming', both, { ok: true as const, status: status({ state: 'forming', reason: 'waiting' }) }, 'GroupForming'],
    ['broken', both, { ok: true as const, status: status({ state: 'broken', reason: 'rank 1 lost' }) }, 'GroupBroken'],
    ['a member missing', both, { ok: true as const, status: status({ members: [0] }) }, 'RankNotJoined'],
  ])('is not ready with %s', (_name, ranks, probe, reason) => {
    expect(verdictOf(ranks, probe)).toMatchObject({ ready: false, reason })
  })

  it('names the missing rank', () => {
    const verdict = verdictOf(ranksOf([statefulSetPod('llama', '0')]), { ok: true, status: status({ nnodes: 3 }) })
    expect(verdict.message).toBe('rank 1, 2 of 3 has no pod')
  })

  it('matches a pod condition only when status, reason and message are the same', () => {
    const verdict = verdictOf(both, { ok: true, status: status({}) })
    const pod = (condition: object): V1Pod => ({
      status: { conditions: [{ type: GROUP_READY_CONDITION, status: 'True', ...condition }] },
    })
    expect(conditionMatches(pod({ reason: verdict.reason, message: verdict.message }), verdict)).toBe(true)
    // kwok's pod-ready stage sets readiness gates True without a reason: not the coordinator's verdict.
    expect(conditionMatches(pod({}), verdict)).toBe(false)
  })
})
