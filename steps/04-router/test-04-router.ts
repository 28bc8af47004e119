#!/usr/bin/env -S npx tsx
// Step 04 verification: a router in front of the model-server groups, which finds them by
// watching EndpointSlices, spreads requests over them and keeps a failing one out.
// Runs alone (`npx tsx steps/04-router/test-04-router.ts [--context NAME] [--json]`)
// and is what `npm run step 04` runs after applying the step.
import type { V1Pod } from '@kubernetes/client-node'
import {
  check,
  fail,
  NAMESPACE,
  pass,
  type Check,
  type CheckEnv,
  type Verdict,
} from '../../scripts/lib/checks/check.ts'
import {
  askAuthorizer,
  budgetMissing,
  budgetRule,
  isReady,
  judgeAccess,
  kubectl,
  list,
  listGranted,
  nameOf,
  observeBudget,
  orNull,
  podsOf,
  type Answered,
  type BudgetObservation,
} from '../../scripts/lib/checks/kit.ts'
import { isMain, runStandalone } from '../../scripts/lib/checks/standalone.ts'
import { podProxyGet, podProxyPut, proxyAnswer, proxyPost, type ProxyResponse } from '../../scripts/lib/kube.ts'
import type { BackendStatus } from '../../workloads/router/backend.ts'
import { backendHeader } from '../../workloads/router/proxy.ts'

const ROUTER = 'router'
const REPLICAS = 2
const ROUTER_LABEL = `app.kubernetes.io/name=${ROUTER}`
const ROUTER_PORT = 8080
const SET = 'llama-3-70b'
const GROUPS = 3
const SERVER_PORT = 8000
const MODEL = 'meta-llama/Meta-Llama-3-70B-Instruct'
/** The group the failure checks break, and mend again. */
const FAILING = `${SET}-1`
const groupNames = Array.from({ length: GROUPS }, (_, i) => `${SET}-${i}`)

export interface RouterPod {
  name: string
  node?: string
  ready: boolean
  /** Why its container is not running, when it is not: CrashLoopBackOff, ErrImageNeverPull… */
  waiting?: string
  /** How its container last ended, when it restarted: "exit code 2". */
  lastExit?: string
}

export interface RouterObservation {
  deployment: { replicas: number; ready: number; available: boolean } | null
  pods: RouterPod[]
}

function routerPod(pod: V1Pod): RouterPod {
  const status = pod.status?.containerStatuses?.[0]
  const exit = status?.lastState?.terminated?.exitCode
  return {
    name: nameOf(pod),
    node: pod.spec?.nodeName,
    ready: isReady(pod),
    ...(status?.state?.waiting?.reason ? { waiting: status.state.waiting.reason } : {}),
    ...(exit !== undefined ? { lastExit: `exit code ${exit}` } : {}),
  }
}

export const routerReady = check({
  id: 'router-ready',
  title: `the router is ready: ${REPLICAS} of ${REPLICAS} replicas`,
  needs: 'api',
  async observe(env): Promise<RouterObservation> {
    const deployment = await orNull(env.kube.apps.readNamespacedDeployment({ name: ROUTER, namespace: env.namespace }))
    if (!deployment) return { deployment: null, pods: [] }
    return {
      deployment: {
        replicas: deployment.spec?.replicas ?? 1,
        ready: deployment.status?.readyReplicas ?? 0,
        available: deployment.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ?? false,
      },
      pods: (await podsOf(env, ROUTER)).map(routerPod),
    }
  },
  evaluate({ deployment, pods }: RouterObservation) {
    if (deployment === null) {
      return fail(
        `a Deployment named ${ROUTER}`,
        'no such Deployment',
        `is 40-router-deployment.yaml applied? ${kubectl(`get deployment ${ROUTER}`)}`,
      )
    }
    if (deployment.replicas !== REPLICAS) {
      return fail(
        `replicas: ${REPLICAS}`,
        `replicas: ${deployment.replicas}`,
        'one router is a single point of failure: with two, one can be restarted or lost with its node while the other serves',
      )
    }
    if (deployment.available && deployment.ready >= REPLICAS) return pass
    const seen =
      `${deployment.ready} of ${REPLICAS} Ready` + (pods.length ? `: ${list(pods.map(describePod))}` : ', no pods')
    if (pods.length === 0) {
      return fail(
        `${REPLICAS} Ready router pods`,
        seen,
        `the ReplicaSet creates no pods: ${kubectl(`describe replicaset -l ${ROUTER_LABEL}`)}; ` +
          `a missing ServiceAccount ${ROUTER} (30-router-rbac.yaml) or a Pod Security violation is named in its events`,
      )
    }
    const pending = pods.find((pod) => !pod.node)
    if (pending) {
      return fail(
        `${REPLICAS} Ready router pods`,
        seen,
        `${pending.name} is not scheduled: ${kubectl(`describe pod ${pending.name}`)}`,
      )
    }
    const crashing = pods.find((pod) => pod.waiting || pod.lastExit)
    if (crashing) {
      return fail(
        `${REPLICAS} Ready router pods`,
        seen,
        `${kubectl(`logs ${crashing.name} --previous`)}: exit code 2 is a bad flag, named in the log; ` +
          'a router that cannot watch EndpointSlices says "forbidden"',
      )
    }
    return fail(
      `${REPLICAS} Ready router pods`,
      seen,
      `a router is Ready only while at least one model server is healthy: are the ${SET} pods Ready (${kubectl('get pods')}), ` +
        'and may the router watch EndpointSlices (next check)? ' +
        `Or its readinessProbe asks a port or path the router does not serve (it answers GET /ready on port ${ROUTER_PORT}, named http). ` +
        `${kubectl(`describe pod ${pods.find((p) => !p.ready)?.name ?? pods[0]!.name}`)} shows the probe's failures`,
    )
  },
})

function describePod(pod: RouterPod): string {
  const state = pod.ready ? 'Ready' : (pod.waiting ?? (pod.node ? 'not Ready' : 'Pending'))
  return `${pod.name} ${state}${pod.lastExit ? ` (last ${pod.lastExit})` : ''}`
}

/** One question put to the API server's authorizer about the router's account. */
export interface Access {
  verb: string
  group: string
  resource: string
  /** Where: the step's namespace, every namespace (cluster scope), or another one. */
  scope: 'this namespace' | 'every namespace' | 'kube-system'
}

const ENDPOINTSLICES = { group: 'discovery.k8s.io', resource: 'endpointslices' } as const
/** What the router needs: reading its namespace's EndpointSlices, and following their changes. */
export const mayDo: readonly Access[] = ['get', 'list', 'watch'].map((verb) => ({
  verb,
  ...ENDPOINTSLICES,
  scope: 'this namespace',
}))
/** A sample of what it must not do: other resources, writing, other namespaces, the whole cluster. */
export const mayNotDo: readonly Access[] = [
  { verb: 'list', group: '', resource: 'pods', scope: 'this namespace' },
  { verb: 'get', group: '', resource: 'secrets', scope: 'this namespace' },
  { verb: 'update', ...ENDPOINTSLICES, scope: 'this namespace' },
  { verb: 'watch', ...ENDPOINTSLICES, scope: 'kube-system' },
  { verb: 'list', ...ENDPOINTSLICES, scope: 'every namespace' },
]

export interface AccessObservation {
  /** The account's user name, as the API server knows it. */
  user: string
  answers: Answered<Access>[]
}

const describeAccess = ({ verb, group, resource, scope }: Access) =>
  `${verb} ${resource}${group ? `.${group}` : ''} in ${scope}`

export const leastPrivilege = check({
  id: 'least-privilege',
  title: 'the router may watch EndpointSlices and nothing more',
  needs: 'api',
  async observe(env): Promise<AccessObservation> {
    const where = { 'this namespace': env.namespace, 'every namespace': '', 'kube-system': 'kube-system' }
    const answers = await askAuthorizer(env, [...mayDo, ...mayNotDo], ({ verb, group, resource, scope }) => ({
      account: ROUTER,
      attributes: { verb, group, resource, namespace: where[scope] },
    }))
    return { user: `system:serviceaccount:${env.namespace}:${ROUTER}`, answers }
  },
  evaluate({ user, answers }: AccessObservation) {
    const { refused, granted } = judgeAccess(answers, mayDo, mayNotDo, describeAccess)
    if (refused.length > 0) {
      return fail(
        `${user} may ${list(mayDo.map((a) => a.verb))} endpointslices.discovery.k8s.io in ${NAMESPACE}`,
        `refused: ${list(refused.map(describeAccess))}`,
        (refused.length < mayDo.length
          ? `the Role router grants some verbs but not ${list(refused.map((a) => a.verb))}: ` +
            'the router lists the EndpointSlices, then watches them to hear of every change as it happens; ' +
            'without watch it learns that a server came or went only when it lists them again, late. '
          : '') +
          'The Role router must grant get, list and watch on resources: ["endpointslices"] in apiGroups: ["discovery.k8s.io"] ' +
          '(not "", the core group), ' +
          `and the RoleBinding router must bind it to the ServiceAccount router in namespace ${NAMESPACE}: ` +
          kubectl('describe role,rolebinding router'),
      )
    }
    if (granted.length > 0) {
      return fail(
        `${user} refused: ${list(mayNotDo.map(describeAccess))}`,
        `allowed: ${list(listGranted(granted, describeAccess))}`,
        'the router needs nothing but its EndpointSlices: a wildcard ("*") in the Role, ' +
          'a RoleBinding to a broad ClusterRole (view, edit) instead of the Role router, ' +
          'or another binding (a ClusterRoleBinding, or one to a group the account is in) grants more; the reason in brackets names it',
      )
    }
    return pass
  },
})

export const budget = check({
  id: 'budget',
  title: 'its disruption budget allows an eviction',
  needs: 'api',
  observe: (env) => observeBudget(env, ROUTER),
  evaluate(pdb: BudgetObservation | null) {
    if (!pdb || pdb.expectedPods === 0) return budgetMissing(pdb, ROUTER, '60-router-pdb.yaml', REPLICAS)
    if (pdb.disruptionsAllowed >= 1) return pass
    const rule = budgetRule(pdb)
    const seen = `0 disruptions allowed (${rule}, ${pdb.currentHealthy} of ${pdb.expectedPods} pods healthy)`
    if (pdb.currentHealthy < pdb.expectedPods) {
      return fail(
        '1 or more disruptions allowed',
        seen,
        'not every router is Ready yet (see the first check): the budget counts only Ready pods',
      )
    }
    const blocksAll =
      [String(pdb.expectedPods), '100%'].includes(String(pdb.minAvailable)) ||
      ['0', '0%'].includes(String(pdb.maxUnavailable))
    return fail(
      '1 or more disruptions allowed',
      seen,
      blocksAll
        ? `${rule} with ${pdb.expectedPods} router pods allows no eviction at all: ` +
            'every node drain and cluster upgrade would wait on the router forever. Use minAvailable: 1 (or maxUnavailable: 1)'
        : `the budget allows no eviction now: ${kubectl(`describe pdb ${ROUTER}`)}`,
    )
  },
})

/** What GET /backends on a router lists, one entry per model server it knows: the router's own type. */
export type Backend = BackendStatus

/** One router pod's list of backends, or why it could not be read. */
export interface RouterView {
  pod: string
  backends?: Backend[]
  error?: string
}

/** One request through the router: its status, the backend named in the header, and the start of its body. */
export interface Routed {
  status: number
  backend?: string
  body: string
}

const COMPLETION = (i: number) => ({ model: MODEL, prompt: `Request ${i}: which server answers this?`, max_tokens: 8 })

function routed(answer: ProxyResponse): Routed {
  const backend = answer.headers[backendHeader]
  return { status: answer.status, ...(backend ? { backend } : {}), body: answer.body.slice(0, 200) }
}

/** Requests sent at once, so that a policy that looks at load spreads them too. */
async function sendRequests(
  env: CheckEnv,
  target: { pod: string } | { service: string },
  count: number,
): Promise<Routed[]> {
  const send = async (i: number) =>
    routed(await proxyPost(env.kube, env.namespace, target, '/v1/completions', COMPLETION(i)))
  return Promise.all(Array.from({ length: count }, (_, i) => send(i)))
}

async function routerView(env: CheckEnv, pod: string): Promise<RouterView> {
  const answer = await proxyAnswer(podProxyGet(env.kube, env.namespace, `${pod}:${ROUTER_PORT}`, '/backends'))
  if (answer.status !== 200)
    return { pod, error: `GET /backends: ${answer.status || 'no answer'} ${answer.body.slice(0, 120)}` }
  try {
    return { pod, backends: JSON.parse(answer.body) as Backend[] }
  } catch {
    return { pod, error: `GET /backends is not JSON: ${answer.body.slice(0, 120)}` }
  }
}

/** The address each model server has as a backend, podIP:8000, by pod name. */
async function groupAddresses(env: CheckEnv): Promise<{ pod: string; address?: string }[]> {
  const pods = new Map((await podsOf(env, SET)).map((pod) => [nameOf(pod), pod.status?.podIP]))
  return groupNames.map((pod) => {
    const ip = pods.get(pod)
    return ip ? { pod, address: `${ip}:${SERVER_PORT}` } : { pod }
  })
}

const routerPodNames = async (env: CheckEnv) => (await podsOf(env, ROUTER)).map(nameOf).sort()

/** Why a router would not send requests to this backend, or undefined when it would. */
function whyLeftOut(address: string, views: readonly RouterView[]): string | undefined {
  for (const view of views) {
    if (!view.backends) continue
    const backend = view.backends.find((b) => b.address === address)
    if (!backend) {
      return (
        `${view.pod} does not list ${address}: it has not discovered it; ` +
        'check --service llama-3-70b and --target-port http, and that it may watch EndpointSlices (the RBAC check)'
      )
    }
    if (!backend.healthy) {
      return `${view.pod} marks ${address} unhealthy: its health check, GET /ready on the server, fails; ${kubectl('get pods')}`
    }
    if (backend.breaker !== 'closed') {
      return `${view.pod} has ${address}'s breaker ${backend.breaker}: it answered with errors; see the server's log`
    }
  }
  return undefined
}

/** The verdict on requests through the router when one of them did not succeed; undefined when all did. */
function failedRequest(answers: readonly Routed[], through: string, hint?: string): Verdict | undefined {
  const failed = answers.filter((a) => a.status !== 200)
  if (failed.length === 0) return undefined
  const first = failed[0]!
  const expected = `200 from every request through ${through}`
  const seen = `${failed.length} of ${answers.length} failed, e.g. ${first.status || 'no answer'}: ${first.body.slice(0, 160)}`
  // A Kubernetes Status in the body comes from the API server: the request never reached a router.
  if (first.body.includes('"kind":"Status"')) {
    return fail(
      expected,
      seen,
      first.body.includes('no endpoints available')
        ? `the Service ${ROUTER} has no Ready endpoint: are the router pods Ready, ` +
            `and does its selector match their labels (app.kubernetes.io/name: ${ROUTER})?`
        : `the API server could not reach the router on port ${ROUTER_PORT}: ${kubectl(`logs -l ${ROUTER_LABEL}`)}`,
    )
  }
  return fail(
    expected,
    seen,
    hint ??
      `the router answered with an error: GET /backends on a router pod shows what it knows; ${kubectl(`logs -l ${ROUTER_LABEL}`)}`,
  )
}

export interface SpreadObservation {
  /** The model servers and their addresses (podIP:8000), from the API. */
  groups: { pod: string; address?: string }[]
  /** Requests sent at once through the Service router. */
  answers: Routed[]
  routers: RouterView[]
}

const SPREAD_REQUESTS = 12

export const reachesEveryGroup = check({
  id: 'reaches-every-group',
  title: `requests through the router reach all ${GROUPS} groups`,
  needs: 'pods',
  async observe(env): Promise<SpreadObservation> {
    const groups = await groupAddresses(env)
    // The API server's service proxy sends each request to one of the Service's Ready
    // endpoints, a router pod, as kube-proxy would send each connection to the cluster IP.
    const answers = await sendRequests(env, { service: `${ROUTER}:http` }, SPREAD_REQUESTS)
    const routers = await Promise.all((await routerPodNames(env)).map((pod) => routerView(env, pod)))
    return { groups, answers, routers }
  },
  evaluate({ groups, answers, routers }: SpreadObservation) {
    const missing = groups.filter((g) => !g.address)
    if (missing.length > 0) {
      return fail(
        `${GROUPS} model servers with an IP`,
        `no IP: ${list(missing.map((g) => g.pod))}`,
        kubectl(`describe pod ${missing[0]!.pod}`),
      )
    }
    const failed = failedRequest(answers, `the Service ${ROUTER}`)
    if (failed) return failed
    const unmarked = answers.filter((a) => !a.backend)
    if (unmarked.length > 0) {
      return fail(
        `every answer naming its backend in ${backendHeader}`,
        `${unmarked.length} of ${answers.length} without it`,
        `the answer did not come from the router: does the Service ${ROUTER} select only the router pods, ` +
          `on target port http (${ROUTER_PORT})?`,
      )
    }
    const known = new Map(groups.map((g) => [g.address!, g.pod]))
    const strangers = [...new Set(answers.map((a) => a.backend!))].filter((backend) => !known.has(backend))
    if (strangers.length > 0) {
      return fail(
        `answers only from ${list(groups.map((g) => `${g.pod} (${g.address})`))}`,
        `answers from ${list(strangers)}`,
        "an address that is no model server now: a router that keeps a replaced pod's old address is not following the EndpointSlices; " +
          'see its log',
      )
    }
    const counts = groups.map((g) => ({ ...g, served: answers.filter((a) => a.backend === g.address).length }))
    const idle = counts.filter((g) => g.served === 0)
    if (idle.length === 0) return pass
    return fail(
      `answers from all ${GROUPS} groups`,
      list(counts.map((g) => `${g.pod}: ${g.served}`)),
      whyLeftOut(idle[0]!.address!, routers) ??
        `${SPREAD_REQUESTS} requests sent at once left ${idle[0]!.pod} idle: least-outstanding and round-robin spread them; ` +
          'session-affinity and prefix-aware keep similar requests on one server (--policy)',
    )
  },
})

export interface FailoverObservation {
  /** The group whose failures were turned on, and its address. */
  failing: { pod: string; address?: string }
  /** Per router pod: the requests sent to it directly, and its backends after them. */
  routers: (RouterView & { answers: Routed[] })[]
}

const REQUESTS_PER_ROUTER = 6

/** Requests straight to each router pod (each has its own breakers), then each one's /backends. */
async function throughEachRouter(env: CheckEnv): Promise<FailoverObservation> {
  const failing = (await groupAddresses(env)).find((g) => g.pod === FAILING)!
  const routers = await Promise.all(
    (await routerPodNames(env)).map(async (pod) => {
      const answers = await sendRequests(env, { pod: `${pod}:${ROUTER_PORT}` }, REQUESTS_PER_ROUTER)
      return { ...(await routerView(env, pod)), answers }
    }),
  )
  return { failing, routers }
}

/** Turns the failing group's injected failures on (rate 1) or off (rate 0), at run time. */
async function setFailures(env: CheckEnv, rate: number): Promise<void> {
  try {
    await podProxyPut(env.kube, env.namespace, `${FAILING}:${SERVER_PORT}`, '/admin/failures', {
      rate,
      types: ['server_error'],
    })
  } catch (error) {
    // The model server serves /admin/failures only when asked to (lab only).
    if ((error as { code?: number }).code === 404) {
      throw new Error(
        `PUT /admin/failures on ${FAILING} answered 404: failure injection is off; 20-statefulset.yaml sets ENABLE_FAILURE_INJECTION "true" for it`,
        { cause: error },
      )
    }
    throw error
  }
}

/** What both failover checks need before they can judge: the failing group's address, and routers. */
function failoverSetupProblem(
  failing: FailoverObservation['failing'],
  routers: readonly unknown[],
): Verdict | undefined {
  if (!failing.address) return fail(`${FAILING} with an IP`, `${FAILING} has none`, kubectl(`describe pod ${FAILING}`))
  if (routers.length === 0) return fail(`${REPLICAS} router pods`, 'none', 'see the first check')
  return undefined
}

const isKeptOut = (backend: Backend) => backend.breaker !== 'closed' || backend.ejectedUntil !== null

export const breakerOpens = check({
  id: 'breaker-opens',
  title: `when ${FAILING} fails, requests still succeed and its breaker opens`,
  needs: 'pods',
  timeoutMs: 90_000,
  // Every completion on the group now answers 500. Its /ready still says 200: the pod stays
  // Ready and in the EndpointSlice, so only the router's breaker can keep requests off it.
  act: (env) => setFailures(env, 1),
  observe: throughEachRouter,
  evaluate({ failing, routers }: FailoverObservation) {
    const missing = failoverSetupProblem(failing, routers)
    if (missing) return missing
    for (const router of routers) {
      const failed = failedRequest(
        router.answers,
        router.pod,
        `a router must not hand a group's error to the client: it retries the request on another group and, after repeated errors, ` +
          `opens that group's breaker; ${router.pod}'s GET /backends shows its view`,
      )
      if (failed) return failed
      if (router.answers.some((a) => a.backend === failing.address)) {
        return fail(
          `no answer from ${FAILING} (${failing.address})`,
          `${router.pod} returned an answer from it`,
          `the failures did not take: GET /admin/failures on ${FAILING} shows the rate (it needs ENABLE_FAILURE_INJECTION "true")`,
        )
      }
      if (!router.backends)
        return fail(`${router.pod}'s GET /backends`, router.error ?? 'no answer', kubectl(`logs ${router.pod}`))
      const backend = router.backends.find((b) => b.address === failing.address)
      if (!backend) {
        return fail(
          `${router.pod} listing ${failing.address}`,
          `it lists ${list(router.backends.map((b) => b.address))}`,
          'the router does not know the failing group: see the check that requests reach every group',
        )
      }
      if (!isKeptOut(backend)) {
        return fail(
          `${router.pod}: ${FAILING}'s breaker open (or the backend ejected)`,
          `breaker ${backend.breaker}, healthy ${backend.healthy}`,
          'its health check still passes (GET /ready is 200: the server runs, only its answers fail); ' +
            'the breaker must open on the errors themselves, after a few in a row',
        )
      }
    }
    return pass
  },
})

export const trafficReturns = check({
  id: 'traffic-returns',
  title: `once ${FAILING} recovers, traffic returns to it`,
  needs: 'pods',
  timeoutMs: 120_000,
  // Failures off again. This runs whatever the checks before it found, so the group is always
  // left working; a run stopped in between leaves them on until the pod restarts (--reset).
  act: (env) => setFailures(env, 0),
  observe: throughEachRouter,
  evaluate({ failing, routers }: FailoverObservation) {
    const missing = failoverSetupProblem(failing, routers)
    if (missing) return missing
    for (const router of routers) {
      const failed = failedRequest(router.answers, router.pod)
      if (failed) return failed
      const backend = router.backends?.find((b) => b.address === failing.address)
      const served = router.answers.filter((a) => a.backend === failing.address).length
      if (backend && !isKeptOut(backend) && served > 0) continue
      const ejected = backend && backend.ejectedUntil !== null ? `, ejected until ${backend.ejectedUntil}` : ''
      const state = backend ? `breaker ${backend.breaker}${ejected}` : 'not listed'
      return fail(
        `${router.pod} sending requests to ${FAILING} again`,
        `${served} of ${router.answers.length} answered by it; ${state}`,
        backend && isKeptOut(backend)
          ? 'the breaker stays open until its backoff ends, then lets a few trial requests through (half-open); ' +
              'when they all succeed it closes. The backoff grows each time it opens again: wait, or see the router log'
          : 'the router does not send it requests although its breaker is closed: ' +
              (whyLeftOut(failing.address!, [router]) ?? 'see the policy (--policy)'),
      )
    }
    return pass
  },
})

export const checks: Check[] = [routerReady, leastPrivilege, budget, reachesEveryGroup, breakerOpens, trafficReturns]

if (isMain(import.meta.url)) await runStandalone(import.meta.url, checks)
