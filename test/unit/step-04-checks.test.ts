// Every step-04 check judged on observations: the api ones recorded from a kwok cluster
// (fixtures/step-04-*.kwok.json: the step as written, and with the mistakes the hints name);
// the pods ones written to look like what the checks see on kind (answers through the API
// server's proxies, with the router's x-serving-lab-backend header, and its GET /backends),
// and recorded from real model-server and router processes (fixtures/step-04-router.process.json).
import type { BudgetObservation } from '../../scripts/lib/checks/kit.ts'
import { describe, expect, it } from 'vitest'
import {
  breakerOpens,
  budget,
  checks,
  leastPrivilege,
  mayDo,
  mayNotDo,
  reachesEveryGroup,
  routerReady,
  trafficReturns,
  type AccessObservation,
  type Backend,
  type FailoverObservation,
  type RouterObservation,
  type Routed,
  type SpreadObservation,
} from '../../steps/04-router/test-04-router.ts'
import { failure, recordedFor } from './recorded.ts'
import recorded from './fixtures/step-04-observations.kwok.json' with { type: 'json' }
// The Deployment applied while its ServiceAccount router did not exist.
import noServiceAccount from './fixtures/step-04-no-serviceaccount.kwok.json' with { type: 'json' }
// The Role with apiGroups: [""], the core group, where EndpointSlices are not.
import roleCoreGroup from './fixtures/step-04-role-core-group.kwok.json' with { type: 'json' }
// The step plus a ClusterRoleBinding of the ClusterRole view to the router's account.
import clusterView from './fixtures/step-04-cluster-view.kwok.json' with { type: 'json' }
// The PodDisruptionBudget with minAvailable: 2, as many as there are routers.
import minAvailable2 from './fixtures/step-04-min-available-2.kwok.json' with { type: 'json' }
// Three real model servers and two real routers on loopback: the pods checks' observations.
import processes from './fixtures/step-04-router.process.json' with { type: 'json' }

describe('step 04 checks on observations recorded from a cluster', () => {
  it('every api check passes on what a correct step shows', () => {
    for (const item of checks.filter((c) => c.needs === 'api')) {
      expect(item.evaluate(recordedFor(item, recorded)), item.title).toEqual({ pass: true })
    }
  })

  it('titles state outcomes and every check is listed once', () => {
    expect(new Set(checks.map((c) => c.title)).size).toBe(checks.length)
    expect(checks.map((c) => c.needs)).toEqual(['api', 'api', 'api', 'pods', 'pods', 'pods'])
  })

  it('only the failure checks act, and the last one turns the failures off again', () => {
    expect(checks.filter((c) => c.act).map((c) => c.title)).toEqual([breakerOpens.title, trafficReturns.title])
    expect(checks.at(-1)).toBe(trafficReturns)
  })
})

describe('the router is ready', () => {
  const base = () => recordedFor(routerReady, recorded) as RouterObservation
  const notReady = (changes: Partial<RouterObservation['pods'][number]>): RouterObservation => {
    const observation = base()
    observation.deployment = { replicas: 2, ready: 1, available: true }
    observation.pods[1] = { ...observation.pods[1]!, ready: false, ...changes }
    return observation
  }

  it('fails when the ServiceAccount is missing and no pod gets created, naming it (recorded)', () => {
    const verdict = failure(routerReady.evaluate(recordedFor(routerReady, noServiceAccount)))
    expect(verdict.seen).toBe('0 of 2 Ready, no pods')
    expect(verdict.hint).toContain('ServiceAccount router')
    expect(verdict.hint).toContain('describe replicaset')
  })

  it('fails without the Deployment, pointing at its file', () => {
    expect(failure(routerReady.evaluate({ deployment: null, pods: [] })).hint).toContain('40-router-deployment.yaml')
  })

  it('fails on a single replica', () => {
    const verdict = failure(routerReady.evaluate({ ...base(), deployment: { replicas: 1, ready: 1, available: true } }))
    expect(verdict.seen).toBe('replicas: 1')
    expect(verdict.hint).toContain('single point of failure')
  })

  it('fails on a router that exits at start, pointing at its previous log', () => {
    const verdict = failure(routerReady.evaluate(notReady({ waiting: 'CrashLoopBackOff', lastExit: 'exit code 2' })))
    expect(verdict.seen).toBe(
      '1 of 2 Ready: router-76fcc7d65d-2nglh Ready, router-76fcc7d65d-pw2vp CrashLoopBackOff (last exit code 2)',
    )
    expect(verdict.hint).toContain('logs router-76fcc7d65d-pw2vp --previous')
    expect(verdict.hint).toContain('bad flag')
  })

  it('fails on a router left Pending', () => {
    const observation = notReady({})
    delete observation.pods[1]!.node
    expect(failure(routerReady.evaluate(observation)).hint).toContain('describe pod router-76fcc7d65d-pw2vp')
  })

  it('fails on a running router that is not Ready, pointing at the model servers and its RBAC', () => {
    const verdict = failure(routerReady.evaluate(notReady({})))
    expect(verdict.hint).toContain('at least one model server is healthy')
    expect(verdict.hint).toContain('watch EndpointSlices')
    expect(verdict.hint).toContain('readinessProbe asks a port or path the router does not serve')
  })
})

describe('the router may watch EndpointSlices and nothing more', () => {
  it('asks about the verbs the router needs and a sample of what it must not do', () => {
    expect(mayDo.map((a) => `${a.verb} ${a.resource}.${a.group}`)).toEqual([
      'get endpointslices.discovery.k8s.io',
      'list endpointslices.discovery.k8s.io',
      'watch endpointslices.discovery.k8s.io',
    ])
    expect(mayNotDo.map((a) => `${a.verb} ${a.resource} in ${a.scope}`)).toEqual([
      'list pods in this namespace',
      'get secrets in this namespace',
      'update endpointslices in this namespace',
      'watch endpointslices in kube-system',
      'list endpointslices in every namespace',
    ])
  })

  it('asks about the service account by its user name (recorded)', () => {
    expect((recordedFor(leastPrivilege, recorded) as AccessObservation).user).toBe(
      'system:serviceaccount:lab-04:router',
    )
  })

  it('fails on a Role for the core group, naming discovery.k8s.io (recorded)', () => {
    const verdict = failure(leastPrivilege.evaluate(recordedFor(leastPrivilege, roleCoreGroup)))
    expect(verdict.seen).toBe(
      'refused: get endpointslices.discovery.k8s.io in this namespace, list endpointslices.discovery.k8s.io in this namespace, watch endpointslices.discovery.k8s.io in this namespace',
    )
    expect(verdict.hint).toContain('apiGroups: ["discovery.k8s.io"] (not "", the core group)')
    expect(verdict.hint).not.toContain('grants some verbs')
  })

  it('fails on a Role without watch, saying what watch is for', () => {
    const observation = recordedFor(leastPrivilege, recorded) as AccessObservation
    const refusedWatch = {
      ...observation,
      answers: observation.answers.map((a) =>
        a.verb === 'watch' && a.scope === 'this namespace' ? { ...a, allowed: false } : a,
      ),
    }
    const verdict = failure(leastPrivilege.evaluate(refusedWatch))
    expect(verdict.seen).toBe('refused: watch endpointslices.discovery.k8s.io in this namespace')
    expect(verdict.hint).toContain('grants some verbs but not watch')
    expect(verdict.hint).toContain('only when it lists them again')
  })

  it('fails on a ClusterRoleBinding to view, and the seen names the binding (recorded)', () => {
    const verdict = failure(leastPrivilege.evaluate(recordedFor(leastPrivilege, clusterView)))
    expect(verdict.seen).toContain(
      'list pods in this namespace (RBAC: allowed by ClusterRoleBinding "router-view" of ClusterRole "view"',
    )
    expect(verdict.seen).toContain('list endpointslices.discovery.k8s.io in every namespace')
    // view grants no secrets, and no writes.
    expect(verdict.seen).not.toContain('secrets')
    expect(verdict.seen).not.toContain('update')
    expect(verdict.hint).toContain('ClusterRoleBinding')
  })

  it('fails when only watch is missing: a router could list once and never hear of changes', () => {
    const observation = recordedFor(leastPrivilege, recorded) as AccessObservation
    observation.answers.find((a) => a.verb === 'watch' && a.scope === 'this namespace')!.allowed = false
    expect(failure(leastPrivilege.evaluate(observation)).seen).toBe(
      'refused: watch endpointslices.discovery.k8s.io in this namespace',
    )
  })

  it('fails on a wildcard verb that lets it write EndpointSlices', () => {
    const observation = recordedFor(leastPrivilege, recorded) as AccessObservation
    observation.answers.find((a) => a.verb === 'update')!.allowed = true
    expect(failure(leastPrivilege.evaluate(observation)).seen).toBe(
      'allowed: update endpointslices.discovery.k8s.io in this namespace',
    )
  })

  it('refuses to judge an observation that lacks an answer', () => {
    const observation = recordedFor(leastPrivilege, recorded) as AccessObservation
    observation.answers = observation.answers.filter((a) => a.resource !== 'secrets')
    expect(() => leastPrivilege.evaluate(observation)).toThrow('get secrets in this namespace')
  })
})

describe('the disruption budget', () => {
  const base = () => recordedFor(budget, recorded) as BudgetObservation

  it('fails on minAvailable equal to the replicas, explaining the hung drain (recorded)', () => {
    const verdict = failure(budget.evaluate(recordedFor(budget, minAvailable2)))
    expect(verdict.seen).toBe('0 disruptions allowed (minAvailable: 2, 2 of 2 pods healthy)')
    expect(verdict.hint).toContain('allows no eviction at all')
    expect(verdict.hint).toContain('minAvailable: 1')
  })

  it('fails the same way on maxUnavailable: 0 and minAvailable: 100%', () => {
    const zero: BudgetObservation = { maxUnavailable: 0, expectedPods: 2, currentHealthy: 2, disruptionsAllowed: 0 }
    expect(failure(budget.evaluate(zero)).hint).toContain('maxUnavailable: 0 with 2 router pods allows no eviction')
    expect(failure(budget.evaluate({ ...zero, maxUnavailable: undefined, minAvailable: '100%' })).hint).toContain(
      'allows no eviction at all',
    )
  })

  it('fails while a router is not Ready without blaming the budget', () => {
    const verdict = failure(budget.evaluate({ ...base(), currentHealthy: 1, disruptionsAllowed: 0 }))
    expect(verdict.hint).toContain('counts only Ready pods')
    expect(verdict.hint).not.toContain('minAvailable: 1')
  })

  it('fails when the selector matches no pod', () => {
    expect(
      failure(budget.evaluate({ ...base(), expectedPods: 0, currentHealthy: 0, disruptionsAllowed: 0 })).hint,
    ).toContain('selector')
  })

  it('fails without a budget, pointing at its file', () => {
    expect(failure(budget.evaluate(null)).hint).toContain('60-router-pdb.yaml')
  })
})

// Pods checks: what the checks would see on kind, in the shapes the router and the API server use.
const groups = [0, 1, 2].map((i) => ({ pod: `llama-3-70b-${i}`, address: `10.244.${i + 1}.7:8000` }))
const [g0, g1, g2] = groups.map((g) => g.address)
const completion =
  '{"id":"cmpl-1","object":"text_completion","model":"meta-llama/Meta-Llama-3-70B-Instruct","choices":[{"index":0,"text":" the second one","finish_reason":"length"}]}'
const ok = (backend: string): Routed => ({ status: 200, backend, body: completion })
const backend = (address: string, changes: Partial<Backend> = {}): Backend => ({
  address,
  ready: true,
  healthy: true,
  breaker: 'closed',
  outstanding: 0,
  ejectedUntil: null,
  ...changes,
})
const routers = ['router-7d9c6b5f4-k2x8q', 'router-7d9c6b5f4-w7m4n']
const views = (changes: Partial<Backend> = {}, of = g1!) =>
  routers.map((pod) => ({ pod, backends: groups.map((g) => backend(g.address, g.address === of ? changes : {})) }))
const spread = (): SpreadObservation => ({
  groups,
  answers: [g0, g1, g2, g0, g1, g2, g0, g1, g2, g2, g1, g0].map((b) => ok(b!)),
  routers: views(),
})

describe('requests through the router reach every group', () => {
  it('passes when the answers name all three groups', () => {
    expect(reachesEveryGroup.evaluate(spread())).toEqual({ pass: true })
  })

  it('fails on a group no router has discovered, pointing at --service and the RBAC check', () => {
    const observation = spread()
    observation.answers = observation.answers.map((a) => (a.backend === g1 ? ok(g0!) : a))
    observation.routers = routers.map((pod) => ({ pod, backends: [backend(g0!), backend(g2!)] }))
    const verdict = failure(reachesEveryGroup.evaluate(observation))
    expect(verdict.seen).toBe('llama-3-70b-0: 8, llama-3-70b-1: 0, llama-3-70b-2: 4')
    expect(verdict.hint).toContain('does not list 10.244.2.7:8000')
    expect(verdict.hint).toContain('--service llama-3-70b')
  })

  it('fails on a group the health check marks unhealthy, pointing at GET /ready', () => {
    const observation = spread()
    observation.answers = observation.answers.map((a) => (a.backend === g1 ? ok(g2!) : a))
    observation.routers = views({ healthy: false })
    expect(failure(reachesEveryGroup.evaluate(observation)).hint).toContain('GET /ready')
  })

  it('fails on a group every router knows and likes, pointing at the policy', () => {
    const observation = spread()
    observation.answers = observation.answers.map((a) => (a.backend === g1 ? ok(g2!) : a))
    expect(failure(reachesEveryGroup.evaluate(observation)).hint).toContain('--policy')
  })

  it('fails on answers without the header: the Service reaches something else', () => {
    const observation = spread()
    delete observation.answers[3]!.backend
    const verdict = failure(reachesEveryGroup.evaluate(observation))
    expect(verdict.seen).toBe('1 of 12 without it')
    expect(verdict.hint).toContain('select only the router pods')
  })

  it('fails when the Service has no Ready endpoint: the API server answers itself', () => {
    const observation = spread()
    observation.answers[0] = {
      status: 503,
      body: '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no endpoints available for service \\"router:http\\"","reason":"ServiceUnavailable","code":503}',
    }
    const verdict = failure(reachesEveryGroup.evaluate(observation))
    expect(verdict.seen).toMatch(/^1 of 12 failed, e.g. 503: /)
    expect(verdict.hint).toContain('no Ready endpoint')
  })

  it('fails when the router answers with an error of its own', () => {
    const observation = spread()
    observation.answers[5] = {
      status: 503,
      body: '{"error":{"message":"no healthy backend","type":"ServiceUnavailableError","param":null,"code":"no_backend"}}',
    }
    expect(failure(reachesEveryGroup.evaluate(observation)).hint).toContain('GET /backends')
  })

  it('fails on an answer from an address no model server has: a stale endpoint', () => {
    const observation = spread()
    observation.answers[0] = ok('10.244.1.3:8000')
    expect(failure(reachesEveryGroup.evaluate(observation)).hint).toContain('EndpointSlices')
  })

  it('fails while a model server has no IP', () => {
    const observation = spread()
    observation.groups = [groups[0]!, { pod: 'llama-3-70b-1' }, groups[2]!]
    expect(failure(reachesEveryGroup.evaluate(observation)).seen).toBe('no IP: llama-3-70b-1')
  })
})

const ejected = '2026-11-27T16:40:05.000Z'
const failover = (
  changes: Partial<Backend> = { breaker: 'open', ejectedUntil: ejected },
  answers: Routed[] = [g0, g2, g0, g2, g0, g2].map((b) => ok(b!)),
): FailoverObservation => ({
  failing: groups[1]!,
  routers: views(changes).map((view) => ({ ...view, answers: structuredClone(answers) })),
})

describe('when a group fails', () => {
  it('passes when every request succeeds elsewhere and both routers have its breaker open', () => {
    expect(breakerOpens.evaluate(failover())).toEqual({ pass: true })
  })

  it('passes while the breaker is half-open, letting a probe through', () => {
    expect(breakerOpens.evaluate(failover({ breaker: 'half-open' }))).toEqual({ pass: true })
  })

  it('fails when a client gets the group’s error, pointing at retries', () => {
    const error =
      '{"error":{"message":"The server had an error while processing your request (injected failure).","type":"InternalServerError","param":null,"code":"server_error"}}'
    const observation = failover()
    observation.routers[0]!.answers[1] = { status: 500, backend: g1!, body: error }
    const verdict = failure(breakerOpens.evaluate(observation))
    expect(verdict.expected).toBe('200 from every request through router-7d9c6b5f4-k2x8q')
    expect(verdict.seen).toContain('1 of 6 failed, e.g. 500: {"error"')
    expect(verdict.hint).toContain('retries the request on another group')
  })

  it('fails when the breaker stays closed, explaining that readiness cannot see it', () => {
    const verdict = failure(breakerOpens.evaluate(failover({})))
    expect(verdict.seen).toBe('breaker closed, healthy true')
    expect(verdict.hint).toContain('GET /ready is 200')
  })

  it('fails when the group still answers 200: the injection did not take', () => {
    const observation = failover()
    observation.routers[1]!.answers[0] = ok(g1!)
    expect(failure(breakerOpens.evaluate(observation)).hint).toContain('GET /admin/failures')
  })

  it('fails when a router’s /backends cannot be read', () => {
    const observation = failover()
    observation.routers[1] = {
      pod: routers[1]!,
      error: 'GET /backends: 404 Not Found',
      answers: observation.routers[1]!.answers,
    }
    expect(failure(breakerOpens.evaluate(observation)).seen).toBe('GET /backends: 404 Not Found')
  })

  it('fails without router pods', () => {
    expect(failure(breakerOpens.evaluate({ failing: groups[1]!, routers: [] })).hint).toContain('first check')
  })
})

describe('once it recovers', () => {
  const recovered = () =>
    failover(
      {},
      [g0, g1, g2, g0, g1, g2].map((b) => ok(b!)),
    )

  it('passes when both routers send it requests again with the breaker closed', () => {
    expect(trafficReturns.evaluate(recovered())).toEqual({ pass: true })
  })

  it('fails while the breaker is still open, explaining the growing backoff', () => {
    const observation = failover()
    const verdict = failure(trafficReturns.evaluate(observation))
    expect(verdict.seen).toBe(`0 of 6 answered by it; breaker open, ejected until ${ejected}`)
    expect(verdict.hint).toContain('half-open')
    expect(verdict.hint).toContain('backoff grows')
  })

  it('fails when the breaker closed on one router only', () => {
    const observation = recovered()
    observation.routers[1] = failover().routers[1]!
    expect(failure(trafficReturns.evaluate(observation)).expected).toBe(
      'router-7d9c6b5f4-w7m4n sending requests to llama-3-70b-1 again',
    )
  })

  it('fails when the breaker is closed but the router sends it nothing', () => {
    const observation = failover({})
    expect(failure(trafficReturns.evaluate(observation)).hint).toContain('--policy')
  })

  it('fails on a request that failed', () => {
    const observation = recovered()
    observation.routers[0]!.answers[0] = {
      status: 502,
      body: '{"error":{"message":"bad gateway","type":"BadGatewayError","param":null,"code":502}}',
    }
    expect(failure(trafficReturns.evaluate(observation)).seen).toMatch(/^1 of 6 failed/)
  })
})

describe('the pods checks on what real model-server and router processes answered', () => {
  type Poll = { atMs: number; observation: FailoverObservation }
  const failing = processes.failing as Poll[]
  const recovering = processes.recovering as Poll[]
  const failingAddress = processes.spread.groups[1]!.address

  it('twelve requests through two least-outstanding routers reach all three groups', () => {
    expect(reachesEveryGroup.evaluate(processes.spread as SpreadObservation)).toEqual({ pass: true })
  })

  it('while llama-3-70b-1 fails, the routers retry elsewhere: every request succeeds, none from it', () => {
    const answers = failing.flatMap((poll) => poll.observation.routers.flatMap((router) => router.answers))
    expect(answers.length).toBeGreaterThan(0)
    expect(answers.every((a) => a.status === 200 && a.backend !== failingAddress)).toBe(true)
  })

  it('the breaker check fails until each router has seen three errors in a row, then passes twice', () => {
    const verdicts = failing.map((poll) => breakerOpens.evaluate(poll.observation))
    expect(failure(verdicts[0]!).seen).toBe('breaker closed, healthy true')
    expect(verdicts.slice(-2)).toEqual([{ pass: true }, { pass: true }])
    const open = failing
      .at(-1)!
      .observation.routers.map((router) => router.backends!.find((b) => b.address === failingAddress)!)
    for (const backend of open)
      expect(
        backend.breaker === 'half-open' || (backend.breaker === 'open' && typeof backend.ejectedUntil === 'string'),
      ).toBe(true)
  })

  it('after recovery, traffic returns only once the ejection is over: open, then half-open or closed', () => {
    const verdicts = recovering.map((poll) => trafficReturns.evaluate(poll.observation))
    const first = failure(verdicts[0]!)
    expect(first.seen).toMatch(/^0 of 6 answered by it; breaker open, ejected until \d{4}-\d\d-\d\dT/)
    expect(first.hint).toContain('backoff')
    expect(verdicts.slice(-2)).toEqual([{ pass: true }, { pass: true }])
  })
})
