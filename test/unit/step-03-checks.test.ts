// Every step-03 check judged on observations: the api ones recorded from a kwok cluster
// (fixtures/step-03-observations.kwok.json), the pods ones written to look like what the model
// server answers (GET /group, the completions API) through the API server's pod proxy; failing
// ones derived from them the way mistakes change what the cluster shows. Also: step 03's
// headless Service is step 02's.
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import {
  brokenSign,
  checks,
  fourGpus,
  groupFormed,
  leaderServes,
  reforms,
  separateNodes,
  settingsAgree,
  workerRefers,
  type Answer,
  type GpuObservation,
  type Group,
  type PlacementObservation,
  type ReformObservation,
  type SettingsObservation,
} from '../../steps/03-multi-node-tp/test-03-multi-node.ts'
import { failure, recordedFor } from './recorded.ts'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { stepsDir } from '../../scripts/lib/steps.ts'
import recorded from './fixtures/step-03-observations.kwok.json' with { type: 'json' }
// The set scaled to 3: the third rank finds no node with four free GPUs.
import thirdRank from './fixtures/step-03-third-rank-pending.kwok.json' with { type: 'json' }
// Two real model-server processes as ranks 0 and 1 on loopback, rank 1 terminated and restarted.
import processes from './fixtures/step-03-group.process.json' with { type: 'json' }

describe('step 03 checks on observations recorded from a cluster', () => {
  it('every api check passes on what a correct step shows', () => {
    for (const item of checks.filter((c) => c.needs === 'api')) {
      expect(item.evaluate(recordedFor(item, recorded)), item.title).toEqual({ pass: true })
    }
  })

  it('titles state outcomes and every check is listed once', () => {
    expect(new Set(checks.map((c) => c.title)).size).toBe(checks.length)
    expect(checks.map((c) => c.needs)).toEqual(['api', 'api', 'api', 'pods', 'pods', 'pods', 'pods'])
  })
})

describe('placement', () => {
  const base = () => recordedFor(separateNodes, recorded) as PlacementObservation

  it('fails when both ranks share a node, naming the anti-affinity', () => {
    const observation = base()
    observation.pods[1]!.node = observation.pods[0]!.node
    const verdict = failure(separateNodes.evaluate(observation))
    expect(verdict.seen).toBe('llama-3-70b-0 on gpu-1, llama-3-70b-1 on gpu-1')
    expect(verdict.hint).toContain('podAntiAffinity')
  })

  it('fails on a rank left Pending, pointing at describe pod (recorded)', () => {
    const verdict = failure(separateNodes.evaluate(recordedFor(separateNodes, thirdRank)))
    expect(verdict.seen).toBe('not scheduled: llama-3-70b-2')
    expect(verdict.hint).toContain('Insufficient nvidia.com/gpu')
  })

  it('fails on a node without the GPU product label', () => {
    const observation = base()
    observation.products['gpu-0'] = undefined
    expect(failure(separateNodes.evaluate(observation)).hint).toContain('nvidia.com/gpu.product')
  })

  it('fails while a rank is missing', () => {
    expect(failure(separateNodes.evaluate({ ...base(), pods: base().pods.slice(0, 1) })).hint).toContain(
      'describe statefulset',
    )
  })
})

describe('GPUs per rank', () => {
  const base = () => recordedFor(fourGpus, recorded) as GpuObservation

  it('fails on a rank with fewer GPUs than a node has, naming the limit', () => {
    const observation = base()
    observation.pods[0]!.gpus = 2
    const verdict = failure(fourGpus.evaluate(observation))
    expect(verdict.seen).toBe('llama-3-70b-0: 2')
    expect(verdict.hint).toContain('limits.nvidia.com/gpu')
  })

  it('fails when the node advertises fewer GPUs, pointing at the device plugin', () => {
    const observation = base()
    observation.pods[1]!.allocatable = 0
    expect(failure(fourGpus.evaluate(observation)).hint).toContain('device plugin')
  })
})

describe('group settings', () => {
  const base = () => recordedFor(settingsAgree, recorded) as SettingsObservation

  it('fails on WORLD_SIZE counting pods, the classic slip', () => {
    const observation = base()
    observation.env.WORLD_SIZE = '2'
    const verdict = failure(settingsAgree.evaluate(observation))
    expect(verdict.expected).toBe('WORLD_SIZE 8 (2 pods × 4 GPUs)')
    expect(verdict.hint).toContain('processes')
  })

  it('fails when NODE_RANK does not come from the pod-index label', () => {
    const observation = base()
    observation.env.NODE_RANK = '0'
    expect(failure(settingsAgree.evaluate(observation)).hint).toContain('apps.kubernetes.io/pod-index')
  })

  it('fails when TP × PP is not the world size', () => {
    const observation = base()
    observation.args[observation.args.indexOf('--tensor-parallel-size') + 1] = '8'
    expect(failure(settingsAgree.evaluate(observation)).seen).toBe('8 × 2 = 16')
  })

  it('fails when NNODES and replicas disagree', () => {
    expect(failure(settingsAgree.evaluate({ ...base(), replicas: 3 })).expected).toBe('NNODES = replicas (3)')
  })

  it('fails when MASTER_ADDR is the Service rather than rank 0', () => {
    const observation = base()
    observation.env.MASTER_ADDR = 'llama-3-70b.lab-03.svc.cluster.local'
    expect(failure(settingsAgree.evaluate(observation)).hint).toContain('rank 0')
  })

  it('fails on OrderedReady, explaining the deadlock', () => {
    expect(failure(settingsAgree.evaluate({ ...base(), policy: 'OrderedReady' })).hint).toContain('never forms')
  })
})

const LEADER = 'llama-3-70b-0.llama-3-70b.lab-03.svc.cluster.local:29500'
function group(nodeRank: number, changes: Partial<Group> = {}): Group {
  return {
    nodeRank,
    nnodes: 2,
    gpusPerNode: 4,
    worldSize: 8,
    globalRanks: [0, 1, 2, 3].map((local) => nodeRank * 4 + local),
    leader: LEADER,
    state: 'ready',
    generation: 1,
    members: [0, 1],
    reason: null,
    ...changes,
  }
}
const answers = (...groups: Group[]): Answer[] =>
  groups.map((g) => ({ pod: `llama-3-70b-${g.nodeRank}`, status: 200, body: JSON.stringify(g) }))

describe('the group', () => {
  it('passes when both ranks report one ready group of world size 8', () => {
    expect(groupFormed.evaluate(answers(group(0), group(1)))).toEqual({ pass: true })
  })

  it('fails while rank 0 waits for rank 1, naming the rendezvous address', () => {
    const waiting = { state: 'forming', generation: 0, reason: 'waiting for node rank 1 to join' } as const
    const verdict = failure(
      groupFormed.evaluate(answers(group(0, { ...waiting, members: [0] }), group(1, { ...waiting, members: [] }))),
    )
    expect(verdict.seen).toBe('llama-3-70b-0: forming, members [0] (waiting for node rank 1 to join)')
    expect(verdict.hint).toContain(LEADER)
  })

  it('fails on a world size that counts pods', () => {
    const verdict = failure(groupFormed.evaluate(answers(group(0, { worldSize: 2 }), group(1, { worldSize: 2 }))))
    expect(verdict.hint).toContain('processes')
  })

  it('fails on global ranks that do not follow node rank × GPUs per node', () => {
    const verdict = failure(groupFormed.evaluate(answers(group(0), group(1, { globalRanks: [1] }))))
    expect(verdict.expected).toBe('llama-3-70b-1 holds global ranks 4, 5, 6, 7')
  })

  it('fails when a pod holds the wrong node rank', () => {
    const wrong = answers(group(0), group(1))
    wrong[1]!.body = JSON.stringify(group(0))
    expect(failure(groupFormed.evaluate(wrong)).hint).toContain('pod-index')
  })

  it('fails when the ranks report different generations', () => {
    const verdict = failure(groupFormed.evaluate(answers(group(0, { generation: 2 }), group(1))))
    expect(verdict.seen).toBe(`rank 0: generation 2, leader ${LEADER}, rank 1: generation 1, leader ${LEADER}`)
  })

  it('fails when a rank does not answer, pointing at its log', () => {
    const silent: Answer[] = [
      answers(group(0))[0]!,
      {
        pod: 'llama-3-70b-1',
        status: 503,
        body: '{"kind":"Status","message":"error trying to reach service: dial tcp 10.244.2.5:8000: connect: connection refused"}',
      },
    ]
    const verdict = failure(groupFormed.evaluate(silent))
    expect(verdict.seen).toBe('llama-3-70b-1: 503')
    expect(verdict.hint).toContain('logs llama-3-70b-1')
  })

  it('fails on a group still forming, naming MASTER_ADDR and publishNotReadyAddresses', () => {
    const verdict = failure(groupFormed.evaluate(answers(group(0, { state: 'forming', members: [0] }), group(1))))
    expect(verdict.hint).toContain('MASTER_ADDR')
    expect(verdict.hint).toContain('publishNotReadyAddresses: true')
  })
})

const completion = JSON.stringify({
  id: 'cmpl-1',
  object: 'text_completion',
  model: 'meta-llama/Meta-Llama-3-70B-Instruct',
  choices: [{ index: 0, text: ' is split across', finish_reason: 'length' }],
})

describe('the API through rank 0', () => {
  it('passes on a completion', () => {
    expect(leaderServes.evaluate({ pod: 'llama-3-70b-0', status: 200, body: completion })).toEqual({ pass: true })
  })

  it('fails on 503 while the group is not formed', () => {
    const body = JSON.stringify({
      error: { message: 'the group is forming: 1 of 2 ranks joined', type: 'ServiceUnavailableError', code: 503 },
    })
    expect(failure(leaderServes.evaluate({ pod: 'llama-3-70b-0', status: 503, body })).hint).toContain('group check')
  })

  it('fails on an unknown model name', () => {
    const body = JSON.stringify({
      error: { message: 'The model `llama` does not exist.', type: 'NotFoundError', code: 404 },
    })
    expect(failure(leaderServes.evaluate({ pod: 'llama-3-70b-0', status: 404, body })).hint).toContain(
      '--served-model-name',
    )
  })

  it('rank 1 passes when it refuses and names the leader', () => {
    const message =
      'This is node rank 1 of 2: only the leader, node rank 0 at llama-3-70b-0.llama-3-70b.lab-03.svc.cluster.local, serves the API.'
    const body = JSON.stringify({
      error: { message, type: 'ServiceUnavailableError', param: null, code: 'not_leader' },
    })
    expect(workerRefers.evaluate({ pod: 'llama-3-70b-1', status: 503, body })).toEqual({ pass: true })
  })

  it('rank 1 fails when it answers as if it led', () => {
    const verdict = failure(
      workerRefers.evaluate({ pod: 'llama-3-70b-1', status: 200, body: '{"object":"list","data":[]}' }),
    )
    expect(verdict.hint).toContain('NODE_RANK')
  })

  it('rank 1 fails on the API server’s own 503 (nothing listening), which names no leader', () => {
    const body =
      '{"kind":"Status","message":"error trying to reach service: dial tcp 10.244.2.5:8000: connect: connection refused","code":503}'
    expect(failure(workerRefers.evaluate({ pod: 'llama-3-70b-1', status: 503, body })).hint).toContain('logs')
  })
})

describe('losing and regaining rank 1', () => {
  const observation = (changes: Partial<ReformObservation>): ReformObservation => ({
    before: 1,
    now: group(0, { generation: 2 }),
    brokenSeen: 'state broken in generation 1',
    ...changes,
  })

  it('passes when the group was seen broken and is ready again in a later generation', () => {
    expect(reforms.evaluate(observation({}))).toEqual({ pass: true })
  })

  it('fails before the loss was noticed', () => {
    const verdict = failure(reforms.evaluate({ before: 1, now: group(0) }))
    expect(verdict.seen).toBe('still ready in generation 1')
    expect(verdict.hint).toContain('heartbeat')
  })

  it('fails while the group is broken', () => {
    const reason = 'node rank 1 closed its connection; waiting for node rank 1 to join'
    const verdict = failure(reforms.evaluate(observation({ now: group(0, { state: 'broken', members: [0], reason }) })))
    expect(verdict.seen).toBe('broken, members [0] (saw state broken in generation 1)')
    expect(verdict.hint).toContain('Pending')
  })

  it('fails when the group is ready in the same generation: it never broke up', () => {
    expect(failure(reforms.evaluate(observation({ now: group(0) }))).expected).toBe('a generation after 1')
  })
})

describe('the pods checks on what real model-server processes answered', () => {
  it('the group, the completion and the re-formed group pass', () => {
    expect(groupFormed.evaluate(processes.groupFormed)).toEqual({ pass: true })
    expect(leaderServes.evaluate(processes.completion)).toEqual({ pass: true })
    expect(groupFormed.evaluate(processes.groupReformed)).toEqual({ pass: true })
  })

  it("rank 1's refusal passes once it names the pod's MASTER_ADDR (the processes had 127.0.0.1)", () => {
    const body = processes.workerModels.body.replace('127.0.0.1', 'llama-3-70b-0.llama-3-70b.lab-03.svc.cluster.local')
    expect(workerRefers.evaluate({ ...processes.workerModels, body })).toEqual({ pass: true })
    expect(failure(workerRefers.evaluate(processes.workerModels)).expected).toBe('503 naming llama-3-70b-0')
  })

  it('a completion while rank 1 is gone fails, pointing at the group', () => {
    const verdict = failure(leaderServes.evaluate(processes.afterRank1Terminated.completion))
    expect(verdict.seen).toContain('group is not ready')
    expect(verdict.hint).toContain('group check')
  })

  it('polling rank 0 through the loss: fails while broken, passes once re-formed in generation 2', () => {
    const polls = processes.afterRank1Terminated.rank0GroupEveryHalfSecond as Group[]
    const before = (JSON.parse(processes.groupFormed[0]!.body) as Group).generation
    let brokenSeen: string | undefined
    const verdicts = polls.map((now) => {
      brokenSeen ??= brokenSign(before, now)
      return reforms.evaluate({ before, now, ...(brokenSeen ? { brokenSeen } : {}) })
    })
    expect(brokenSeen).toBe('state broken in generation 1')
    expect(failure(verdicts[0]!).seen).toBe('broken, members [0] (saw state broken in generation 1)')
    expect(verdicts.at(-1)).toEqual({ pass: true })
    expect(verdicts.filter((v) => v.pass)).toHaveLength(1)
  })

  it('a group already re-formed at the first poll still counts as seen broken', () => {
    const reformed = JSON.parse(processes.groupReformed[0]!.body) as Group
    expect(brokenSign(1, reformed)).toBe('generation 2 already')
    expect(brokenSign(2, reformed)).toBeUndefined()
  })
})

describe("step 03's headless Service is step 02's", () => {
  const serviceOf = async (folder: string) => {
    const services = (await readManifests(join(stepsDir, folder))).filter((o) => o.kind === 'Service')
    expect(services, folder).toHaveLength(1)
    const copy = structuredClone(services[0]!) as KubernetesObject
    delete copy.metadata?.namespace
    return copy
  }

  it('differs only in namespace', async () => {
    expect(await serviceOf('03-multi-node-tp')).toEqual(await serviceOf('02-headless-service'))
  })
})

describe('the LeaderWorkerSet in leaderworkerset/ describes the same group as the StatefulSet', () => {
  type Template = {
    spec: {
      containers: {
        args: string[]
        env?: { name: string; value?: string }[]
        resources: { limits: Record<string, unknown> }
      }[]
    }
  }
  interface Lws extends KubernetesObject {
    spec: {
      replicas: number
      leaderWorkerTemplate: { size: number; restartPolicy: string; leaderTemplate: Template; workerTemplate: Template }
    }
  }

  it('has one group of as many pods, running the same server with the same GPUs and world size', async () => {
    const set = (await readManifests(join(stepsDir, '03-multi-node-tp'))).find(
      (o) => o.kind === 'StatefulSet',
    ) as KubernetesObject & { spec: { replicas: number; template: Template } }
    const lws = (await readManifests(join(stepsDir, '03-multi-node-tp', 'leaderworkerset'))).find(
      (o) => o.kind === 'LeaderWorkerSet',
    ) as Lws
    expect(lws.apiVersion).toBe('leaderworkerset.x-k8s.io/v1')
    expect(lws.spec.replicas).toBe(1)
    expect(lws.spec.leaderWorkerTemplate.size).toBe(set.spec.replicas)
    expect(lws.spec.leaderWorkerTemplate.restartPolicy).toBe('RecreateGroupOnPodRestart')
    const server = set.spec.template.spec.containers[0]!
    const value = (env: { name: string; value?: string }[] | undefined, name: string) =>
      env?.find((v) => v.name === name)?.value
    for (const template of [
      lws.spec.leaderWorkerTemplate.leaderTemplate,
      lws.spec.leaderWorkerTemplate.workerTemplate,
    ]) {
      const container = template.spec.containers[0]!
      expect(container.args).toEqual(server.args)
      expect(container.resources.limits['nvidia.com/gpu']).toBe(server.resources.limits['nvidia.com/gpu'])
      for (const name of ['GPUS_PER_NODE', 'WORLD_SIZE'])
        expect(value(container.env, name), name).toBe(value(server.env, name))
      // LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and LWS_WORKER_INDEX stand in for these: setting them would override LWS.
      for (const name of ['MASTER_ADDR', 'NNODES', 'NODE_RANK'])
        expect(value(container.env, name), name).toBeUndefined()
    }
  })
})
