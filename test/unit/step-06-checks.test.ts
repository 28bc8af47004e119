// Step 06's checks judged on observations written out by hand: what passes, and what each
// mistake looks like to the check, with the hint that names the cause.
import { describe, expect, it } from 'vitest'
import type { Verdict } from '../../scripts/lib/checks/check.ts'
import {
  deadlineAndOverflow,
  describeAccess,
  frontendBackends,
  gangsDeclared,
  labSchedulerBinds,
  leastPrivilege,
  mayDo,
  mayNotDo,
  prefixRouted,
  priorityClasses,
  priorityWaitsLess,
  topologyPlacement,
  unfitGangPending,
  type PodPlacement,
} from '../../steps/06-dynamo-like/test-06-dynamo.ts'

const hintOf = (verdict: Verdict) => (verdict.pass ? '' : verdict.hint)

const bound = (pod: string, node: string): PodPlacement => ({
  pod,
  schedulerName: 'serving-lab-scheduler',
  node,
  gpus: 2,
  scheduledBy: 'serving-lab-scheduler',
})
const groups = {
  'llama-a': [bound('llama-a-0', 'gpu-0'), bound('llama-a-1', 'gpu-0')],
  'llama-b': [bound('llama-b-0', 'gpu-1'), bound('llama-b-1', 'gpu-1')],
}
const nodes = {
  'gpu-0': { domain: 'node:gpu-0', rack: 'rack-1', gpus: 4 },
  'gpu-1': { domain: 'node:gpu-1', rack: 'rack-2', gpus: 4 },
}

describe('step 06: the gangs and their placement', () => {
  const declared = {
    set: 'llama-a',
    replicas: 2,
    podManagementPolicy: 'Parallel',
    schedulerName: 'serving-lab-scheduler',
    podGroup: 'llama-a',
    minMember: 2,
  }

  it('passes gangs whose minMember is their ranks, and names a minMember no group can reach', () => {
    expect(gangsDeclared.evaluate([declared, { ...declared, set: 'llama-b', podGroup: 'llama-b' }])).toEqual({
      pass: true,
    })
    expect(hintOf(gangsDeclared.evaluate([{ ...declared, minMember: 3 }]))).toContain('only 2 ever will')
    expect(hintOf(gangsDeclared.evaluate([{ ...declared, schedulerName: 'default-scheduler' }]))).toContain(
      'places pods one by one',
    )
    expect(hintOf(gangsDeclared.evaluate([{ ...declared, podManagementPolicy: 'OrderedReady' }]))).toContain('deadlock')
  })

  it('passes pods bound by the lab scheduler, and says who bound the others', () => {
    expect(labSchedulerBinds.evaluate(groups)).toEqual({ pass: true })
    const byDefault = {
      ...groups,
      'llama-a': groups['llama-a'].map((p) => ({
        ...p,
        schedulerName: 'default-scheduler',
        scheduledBy: 'default-scheduler',
      })),
    }
    const verdict = labSchedulerBinds.evaluate(byDefault)
    expect(verdict).toMatchObject({ pass: false, seen: expect.stringContaining('by default-scheduler') })
    expect(hintOf(verdict)).toContain('spec.schedulerName must be serving-lab-scheduler')
  })

  it('passes the memory refusal on to the learner', () => {
    const refused = {
      ...groups,
      'llama-a': groups['llama-a'].map(({ pod, schedulerName, gpus }) => ({
        pod,
        schedulerName,
        gpus,
        failure:
          'gang lab-06/llama-a: 0/2 GPU nodes can take all 2 pods: 2 with GPUs of less than 90000 MiB (or unknown)',
      })),
    }
    expect(hintOf(labSchedulerBinds.evaluate(refused))).toContain('more memory per GPU than the GPUs have')
  })

  it('fails a group split over two NVLink domains when one could hold it', () => {
    expect(topologyPlacement.evaluate({ groups, nodes })).toEqual({ pass: true })
    const split = { ...groups, 'llama-a': [bound('llama-a-0', 'gpu-0'), bound('llama-a-1', 'gpu-1')] }
    expect(topologyPlacement.evaluate({ groups: split, nodes })).toMatchObject({
      pass: false,
      expected: expect.stringContaining('inside one NVLink domain'),
    })
  })

  it('wants the unfit gang wholly pending, with the lab scheduler’s Event and PodScheduled=False', () => {
    const waiting = (pod: string) => ({
      pod,
      exists: true,
      condition: { status: 'False', reason: 'Unschedulable' },
      failure: { by: 'serving-lab-scheduler', message: 'cannot fit even if every pod left its nodes' },
    })
    expect(unfitGangPending.evaluate([waiting('llama-405b-0'), waiting('llama-405b-1')])).toEqual({ pass: true })
    const half = [{ ...waiting('llama-405b-0'), node: 'gpu-0' }, waiting('llama-405b-1')]
    expect(hintOf(unfitGangPending.evaluate(half))).toContain('part of a gang was bound')
    const noCondition = [{ ...waiting('llama-405b-0'), condition: undefined }, waiting('llama-405b-1')]
    expect(hintOf(unfitGangPending.evaluate(noCondition as never))).toContain('pods/status')
  })
})

describe('step 06: priority classes, least privilege, the frontend', () => {
  it('names the missing priority class', () => {
    const classes = { 'serving-lab-interactive': 1000 }
    const pods = [{ pod: 'llama-a-0', className: 'serving-lab-interactive', priority: 1000 }]
    expect(priorityClasses.evaluate({ pods, classes })).toEqual({ pass: true })
    expect(hintOf(priorityClasses.evaluate({ pods: [{ pod: 'llama-b-0' }], classes }))).toContain(
      'serving-lab-interactive or serving-lab-batch',
    )
  })

  it('explains a refused pods/binding, and a scheduler that may patch pods', () => {
    const answers = (allowed: (description: string) => boolean) =>
      [...mayDo, ...mayNotDo].map((access) => ({ ...access, allowed: allowed(describeAccess(access)) }))
    const needed = new Set(mayDo.map(describeAccess))
    expect(leastPrivilege.evaluate({ answers: answers((d) => needed.has(d)) })).toEqual({ pass: true })
    const noBinding = answers((d) => needed.has(d) && !d.includes('pods/binding'))
    expect(hintOf(leastPrivilege.evaluate({ answers: noBinding }))).toContain('cannot bind')
    const patchesPods = answers((d) => needed.has(d) || d === 'scheduler: patch pods (cluster-wide)')
    expect(hintOf(leastPrivilege.evaluate({ answers: patchesPods }))).toContain('never pods itself')
  })

  it('wants the frontend on rank 0 of every group only, with --policy kv', () => {
    const leaders = ['llama-a-0', 'llama-b-0']
    const deployment = { replicas: 2, ready: 2, service: 'model-leaders', policy: 'kv' }
    const service = { name: 'model-leaders', exists: true, selects: leaders }
    expect(frontendBackends.evaluate({ deployment, service, leaders })).toEqual({ pass: true })
    const everyRank = { name: 'model-servers', exists: true, selects: [...leaders, 'llama-a-1', 'llama-b-1'].sort() }
    expect(hintOf(frontendBackends.evaluate({ deployment, service: everyRank, leaders }))).toContain('serve no API')
    expect(
      hintOf(frontendBackends.evaluate({ deployment: { ...deployment, policy: 'round-robin' }, service, leaders })),
    ).toContain('KV caches')
  })
})

describe('step 06: traffic through the frontend', () => {
  it('passes when priority 0 is answered sooner on average, and names fcfs on a 400', () => {
    expect(priorityWaitsLess.evaluate({ urgent: [200, 300], relaxed: [500, 700], failed: [] })).toEqual({ pass: true })
    expect(priorityWaitsLess.evaluate({ urgent: [600], relaxed: [500], failed: [] }).pass).toBe(false)
    expect(hintOf(priorityWaitsLess.evaluate({ urgent: [], relaxed: [], failed: ['400'] }))).toContain('fcfs')
  })

  it('wants a 504 for the expired request and some 429s in the burst', () => {
    const ok = { status: 200, ms: 10 }
    const full = { status: 429, ms: 5, code: 'queue_full' }
    const expired = { status: 504, ms: 3, code: 'deadline_exceeded' }
    expect(deadlineAndOverflow.evaluate({ expired, overflow: [ok, full] })).toEqual({ pass: true })
    expect(deadlineAndOverflow.evaluate({ expired: ok, overflow: [ok, full] }).pass).toBe(false)
    expect(hintOf(deadlineAndOverflow.evaluate({ expired, overflow: [ok, ok] }))).toContain('--max-queued-per-class')
  })

  it('wants each follow-up on the backend its prefix went to', () => {
    const same = { first: '10.0.0.5:8000', second: '10.0.0.5:8000', status: [200, 200] }
    expect(prefixRouted.evaluate({ probes: [same, same] })).toEqual({ pass: true })
    const moved = { ...same, second: '10.0.0.9:8000' }
    expect(prefixRouted.evaluate({ probes: [same, moved] })).toMatchObject({
      pass: false,
      seen: '10.0.0.5:8000 then 10.0.0.9:8000 (200, 200)',
    })
  })
})
