// Every step-05 check judged on observations: the api ones recorded from a kwok cluster
// (fixtures/step-05-observations.kwok.json) and changed into the mistakes the hints name; the
// pods ones written to look like what the checks see on kind (the Lease, GET /health of the
// coordinators, GET /config of the model servers and routers, the ranks' pod status).
import type { BudgetObservation } from '../../scripts/lib/checks/kit.ts'
import { describe, expect, it } from 'vitest'
import {
  budget,
  checks,
  configReaches,
  coordinators,
  failover,
  FAILOVER_LIMIT_MS,
  gateFollowsGroup,
  gateOpens,
  invalidRefused,
  leaseTimings,
  leastPrivilege,
  mayDo,
  mayNotDo,
  nextMaxNumSeqs,
  oneLeader,
  readinessGate,
  startedInOrder,
  startupOrder,
  timingsOf,
  type AccessObservation,
  type ConfigObservation,
  type CoordinatorsObservation,
  type FailoverObservation,
  type LeaderObservation,
  type RankState,
  type RefusedObservation,
  type TemplateObservation,
  type TimingsObservation,
} from '../../steps/05-coordination/test-05-coordination.ts'
import { failure, recordedFor } from './recorded.ts'
import recorded from './fixtures/step-05-observations.kwok.json' with { type: 'json' }

describe('step 05 checks on observations recorded from a kwok cluster', () => {
  it('every api check passes on what a correct step shows', () => {
    for (const item of checks.filter((c) => c.needs === 'api')) {
      expect(item.evaluate(recordedFor(item, recorded)), item.title).toEqual({ pass: true })
    }
  })

  it('titles are unique, the api checks come first, and the experiments act', () => {
    expect(new Set(checks.map((c) => c.title)).size).toBe(checks.length)
    expect(checks.map((c) => c.needs)).toEqual([...Array<string>(6).fill('api'), ...Array<string>(7).fill('pods')])
    expect(checks.filter((c) => c.act).map((c) => c.id)).toEqual([
      'failover',
      'config-reaches',
      'invalid-refused',
      'gate-follows-group',
    ])
    expect(checks.at(-1)).toBe(gateFollowsGroup)
  })

  it('pods checks wait no longer than what they wait for', () => {
    expect(FAILOVER_LIMIT_MS).toBeLessThanOrEqual(8_000 + 1_000 + 3_000)
    for (const item of checks.filter((c) => c.needs === 'pods')) expect(item.timeoutMs).toBeLessThanOrEqual(120_000)
  })
})

describe('the coordinators', () => {
  const base = () => recordedFor(coordinators, recorded) as CoordinatorsObservation
  it('one replica has no standby', () => {
    const observation = base()
    observation.deployment = { replicas: 1, ready: 1 }
    expect(failure(coordinators.evaluate(observation)).hint).toContain('no standby')
  })
  it('a replica not Ready points at its log', () => {
    const observation = base()
    observation.deployment!.ready = 2
    observation.pods[0]!.ready = false
    expect(failure(coordinators.evaluate(observation)).hint).toContain('forbidden')
  })
  it('no Deployment', () => {
    expect(failure(coordinators.evaluate({ deployment: null, pods: [] })).hint).toContain('40-coordinator-deployment')
  })
})

describe('the lease timings', () => {
  const base = () => recordedFor(leaseTimings, recorded) as TimingsObservation
  it("reads the lab's flags, and client-go's defaults where a flag is missing", () => {
    expect(timingsOf(base().args)).toEqual({ leaseDurationMs: 8000, renewDeadlineMs: 5000, retryPeriodMs: 1000 })
    expect(timingsOf([])).toEqual({ leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 2000 })
  })
  it('a lease duration not longer than the renew deadline fails, naming the rule', () => {
    const args = base().args.map((a) => (a === '8000' ? '5000' : a))
    expect(failure(leaseTimings.evaluate({ args })).hint).toContain('greater than renewDeadlineMs')
  })
  it('a retry period too close to the renew deadline fails', () => {
    const args = base().args.map((a) => (a === '1000' ? '4500' : a))
    expect(failure(leaseTimings.evaluate({ args })).seen).toBe('8000 ms, 5000 ms, 4500 ms')
  })
})

describe('least privilege', () => {
  const base = () => recordedFor(leastPrivilege, recorded) as AccessObservation
  const answer = (observation: AccessObservation, match: (a: AccessObservation['answers'][number]) => boolean) =>
    observation.answers.find(match)!
  it('asks every question it judges', () => {
    expect(base().answers).toHaveLength(mayDo.length + mayNotDo.length)
  })
  it('a Role without update on the Lease fails, saying nobody can lead', () => {
    const observation = base()
    answer(observation, (a) => a.resource === 'leases' && a.verb === 'update' && a.name === 'coordinator').allowed =
      false
    expect(failure(leastPrivilege.evaluate(observation)).hint).toContain('update on the Lease')
  })
  it('no patch on pods/status: the gate cannot be set', () => {
    const observation = base()
    answer(observation, (a) => a.subresource === 'status').allowed = false
    expect(failure(leastPrivilege.evaluate(observation)).hint).toContain('readiness gate')
  })
  it('a ConfigMap rule without resourceNames fails', () => {
    const observation = base()
    answer(
      observation,
      (a) => a.account === 'coordinator' && a.verb === 'update' && a.name === 'serving-config',
    ).allowed = true
    const verdict = failure(leastPrivilege.evaluate(observation))
    expect(verdict.hint).toContain('without resourceNames')
    expect(verdict.seen).toContain('coordinator: update configmaps serving-config')
  })
  it('a router that cannot follow the accepted ConfigMap fails', () => {
    const observation = base()
    answer(observation, (a) => a.account === 'router' && a.verb === 'watch').allowed = false
    expect(failure(leastPrivilege.evaluate(observation)).hint).toContain('serving-config-accepted')
  })
})

describe('the budget', () => {
  const base = () => recordedFor(budget, recorded) as BudgetObservation
  it('minAvailable 3 of 3 allows no eviction', () => {
    const pdb = { ...base(), minAvailable: 3, disruptionsAllowed: 0 }
    expect(failure(budget.evaluate(pdb)).hint).toContain('minAvailable: 2')
  })
  it('more than one at a time could take the leader and a standby', () => {
    expect(failure(budget.evaluate({ ...base(), disruptionsAllowed: 2 })).hint).toContain('leader and a standby')
  })
  it('no budget', () => {
    expect(failure(budget.evaluate(null)).hint).toContain('45-coordinator-pdb')
  })
})

describe('the readiness gate and the startup order, as written', () => {
  const base = () => recordedFor(readinessGate, recorded) as TemplateObservation
  it('a gate on a condition the coordinator never sets is never True', () => {
    const template = { ...base(), readinessGates: ['serving-lab.io/ready'] }
    expect(failure(readinessGate.evaluate(template)).hint).toContain('never True')
  })
  it('no gate at all', () => {
    expect(failure(readinessGate.evaluate({ ...base(), readinessGates: [] })).seen).toBe('no readiness gate')
  })
  it('no init container: rank 1 starts as soon as it is scheduled', () => {
    expect(failure(startupOrder.evaluate({ ...base(), initContainers: [] })).hint).toContain(
      'starts as soon as it is scheduled',
    )
  })
  it('an init container that waits for another address', () => {
    const template = base()
    template.initContainers[0]!.env.MASTER_ADDR = 'llama-3-70b.lab-05.svc.cluster.local'
    expect(failure(startupOrder.evaluate(template)).expected).toContain('MASTER_ADDR')
  })
  it('OrderedReady', () => {
    expect(failure(startupOrder.evaluate({ ...base(), podManagementPolicy: 'OrderedReady' })).hint).toContain(
      'deadlock',
    )
  })
})

const LIVE = ['coordinator-a', 'coordinator-b', 'coordinator-c']
const leaderView = (holder: string, transitions = 3, leaders = [holder]): LeaderObservation => ({
  lease: { holder, transitions, durationSeconds: 8 },
  live: LIVE,
  health: LIVE.map((pod) => ({ pod, role: leaders.includes(pod) ? 'leader' : 'standby', leader: holder })),
})

describe('one leader', () => {
  it('passes with one holder that says it leads', () => {
    expect(oneLeader.evaluate(leaderView('coordinator-a'))).toEqual({ pass: true })
  })
  it('two that say they lead', () => {
    expect(
      failure(oneLeader.evaluate(leaderView('coordinator-a', 3, ['coordinator-a', 'coordinator-b']))).seen,
    ).toContain('leaders: coordinator-a, coordinator-b')
  })
  it('a holder that is no live pod', () => {
    expect(failure(oneLeader.evaluate(leaderView('coordinator-gone', 3, []))).expected).toContain('running coordinator')
  })
  it('nobody holds the Lease', () => {
    expect(failure(oneLeader.evaluate(leaderView('', 0, []))).hint).toContain('forbidden')
  })
})

describe('failover', () => {
  const before = { holder: 'coordinator-a', transitions: 3 }
  const after = (takeoverMs: number | undefined, transitions = 4): FailoverObservation => ({
    before,
    now: leaderView('coordinator-b', transitions),
    ...(takeoverMs !== undefined ? { takeoverMs } : {}),
  })
  it('passes on a new leader in time, one transition later', () => {
    expect(failover.evaluate(after(2_500))).toEqual({ pass: true })
  })
  it('too slow', () => {
    expect(failure(failover.evaluate(after(FAILOVER_LIMIT_MS + 1))).seen).toContain('after')
  })
  it('two transitions: the lead changed hands again', () => {
    expect(failure(failover.evaluate(after(2_000, 5))).expected).toBe('leaseTransitions 4')
  })
  it('nobody took over yet', () => {
    expect(failure(failover.evaluate({ before, now: leaderView('coordinator-a') })).expected).toContain(
      'other than coordinator-a',
    )
  })
})

const configView = (generation: number, applied: Record<string, unknown>): ConfigObservation => ({
  wanted: { 'max-num-seqs': '48', policy: 'round-robin' },
  accepted: { generation, data: { 'max-num-seqs': '48', policy: 'round-robin' } },
  workloads: [
    { pod: 'llama-3-70b-0', generation, fencingToken: 4, applied: { 'max-num-seqs': 48 } },
    { pod: 'llama-3-70b-1', generation, fencingToken: 4, applied: { 'max-num-seqs': 48 } },
    { pod: 'router-x', generation, fencingToken: 4, applied },
  ],
  rejections: [],
})

describe('the configuration', () => {
  it('an edit that reached everyone passes', () => {
    expect(configReaches.evaluate(configView(2, { policy: 'round-robin' }))).toEqual({ pass: true })
  })
  it('a router still at the old generation', () => {
    const observation = configView(2, { policy: 'least-outstanding' })
    observation.workloads[2]!.generation = 1
    expect(failure(configReaches.evaluate(observation)).hint).toContain('ACCEPTED_CONFIG')
  })
  it('a router without /config', () => {
    const observation = configView(2, {})
    observation.workloads[2] = { pod: 'router-x', error: 'GET /config: 404' }
    expect(failure(configReaches.evaluate(observation)).seen).toContain('router-x: GET /config: 404')
  })
  it('the leader has not accepted it', () => {
    const observation = configView(2, {})
    observation.accepted!.data['max-num-seqs'] = '64'
    expect(failure(configReaches.evaluate(observation)).hint).toContain('only the leader writes')
  })
  it('each run edits to a new value', () => {
    expect(nextMaxNumSeqs('64')).toBe('48')
    expect(nextMaxNumSeqs('48')).toBe('40')
  })
  const refused = (generation: number, rejections: string[]): RefusedObservation => ({
    ...configView(2, {}),
    wanted: { 'max-num-seqs': '-1' },
    before: { generation: 2, data: { 'max-num-seqs': '48', policy: 'round-robin' } },
    accepted: { generation, data: { 'max-num-seqs': generation === 2 ? '48' : '-1', policy: 'round-robin' } },
    rejections,
  })
  it('an invalid edit refused with an Event passes', () => {
    expect(invalidRefused.evaluate(refused(2, ['max-num-seqs: -1 …']))).toEqual({ pass: true })
  })
  it('an invalid edit that was accepted fails', () => {
    expect(failure(invalidRefused.evaluate(refused(3, []))).expected).toContain('unchanged at generation 2')
  })
  it('refused without saying why', () => {
    expect(failure(invalidRefused.evaluate(refused(2, []))).expected).toContain('ConfigRejected')
  })
})

const rank = (pod: string, status: string, reason: string | undefined, ready: boolean): RankState => ({
  pod,
  ready,
  gate: { status, ...(reason ? { reason } : {}) },
})

describe('the readiness gate at work', () => {
  it('open on every rank, set by the coordinator', () => {
    const states = [
      rank('llama-3-70b-0', 'True', 'GroupReady', true),
      rank('llama-3-70b-1', 'True', 'GroupReady', true),
    ]
    expect(gateOpens.evaluate(states)).toEqual({ pass: true })
  })
  it('True without the reason GroupReady is what KWOK writes, not the coordinator', () => {
    const states = [rank('llama-3-70b-0', 'True', undefined, true), rank('llama-3-70b-1', 'True', undefined, true)]
    expect(failure(gateOpens.evaluate(states)).hint).toContain('not set by the coordinator')
  })
  it('a rank missing closes the gate', () => {
    const states = [rank('llama-3-70b-0', 'False', 'RankMissing', false)]
    expect(failure(gateOpens.evaluate(states)).expected).toBe('2 rank pods')
  })
  it('after the kill: must have been seen closed, then open again', () => {
    const open = [rank('llama-3-70b-0', 'True', 'GroupReady', true), rank('llama-3-70b-1', 'True', 'GroupReady', true)]
    expect(failure(gateFollowsGroup.evaluate({ now: open })).hint).toContain('readinessGates')
    expect(gateFollowsGroup.evaluate({ now: open, closedSeen: 'False (RankMissing), not Ready' })).toEqual({
      pass: true,
    })
    const forming = [
      rank('llama-3-70b-0', 'False', 'GroupForming', false),
      rank('llama-3-70b-1', 'False', 'GroupForming', false),
    ]
    expect(failure(gateFollowsGroup.evaluate({ now: forming, closedSeen: 'x' })).seen).toContain('GroupForming')
  })
})

describe('the startup order that held', () => {
  it("rank 1's wait ended after rank 0 started", () => {
    expect(
      startedInOrder.evaluate({
        leaderStarted: '2026-01-01T10:00:05.000Z',
        waiter: { exitCode: 0, finishedAt: '2026-01-01T10:00:07.000Z' },
      }),
    ).toEqual({ pass: true })
  })
  it('before rank 0 started', () => {
    const verdict = startedInOrder.evaluate({
      leaderStarted: '2026-01-01T10:00:05.000Z',
      waiter: { exitCode: 0, finishedAt: '2026-01-01T10:00:02.000Z' },
    })
    expect(failure(verdict).hint).toContain('MASTER_ADDR:MASTER_PORT')
  })
  it('no init container ran', () => {
    expect(failure(startedInOrder.evaluate({ leaderStarted: '2026-01-01T10:00:05.000Z' })).seen).toBe('not finished')
  })
})
