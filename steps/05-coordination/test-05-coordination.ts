#!/usr/bin/env -S npx tsx
// Step 05 verification: three coordinators elect one leader on a Lease; the leader shares the
// serving configuration and sets the model-server group's readiness gate; rank 1 starts after rank 0.
// Runs alone (`npx tsx steps/05-coordination/test-05-coordination.ts [--context NAME] [--json]`)
// and is what `npm run step 05` runs after applying the step.
import { CoordinationV1Api, type V1Pod } from '@kubernetes/client-node'
import { check, fail, NAMESPACE, pass, type Check, type CheckEnv } from '../../scripts/lib/checks/check.ts'
import {
  accessAttributes,
  askAuthorizer,
  budgetMissing,
  describeAccess as describeWithoutAccount,
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
  type Access as AccessWithoutAccount,
  type Answered,
  type BudgetObservation,
} from '../../scripts/lib/checks/kit.ts'
import { isMain, runStandalone } from '../../scripts/lib/checks/standalone.ts'
import { podProxyGet, proxyAnswer } from '../../scripts/lib/kube.ts'
import { GROUP_READY_CONDITION, readyReason } from '../../workloads/coordinator/group-state.ts'
import { GENERATION_ANNOTATION } from '../../workloads/coordinator/config-publisher.ts'
import { EventReasons } from '../../workloads/coordinator/events.ts'
import { defaultTimings, jitterFactor, validateTimings } from '../../workloads/shared/leader-election.ts'

const COORDINATOR = 'coordinator'
const REPLICAS = 3
const COORDINATOR_PORT = 8080
const LEASE = 'coordinator'
const DESIRED = 'serving-config'
const ACCEPTED = 'serving-config-accepted'
const SET = 'llama-3-70b'
const NNODES = 2
const ROUTER = 'router'
const ROUTER_PORT = 8080
const SERVER_PORT = 8000
const WAIT_FLAG = '--wait-for-rendezvous'
const LEADER_RANK = `${SET}-0`
const WORKER_RANK = `${SET}-1`
const ranks = Array.from({ length: NNODES }, (_, i) => `${SET}-${i}`)

const flag = (args: readonly string[], name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}

// ---------- the coordinators: three replicas ----------

export interface CoordinatorsObservation {
  deployment: { replicas: number; ready: number } | null
  /** Pod name → node, for the pods that exist. */
  pods: { name: string; node?: string; ready: boolean }[]
}

export const coordinators = check({
  id: 'coordinators',
  title: `${REPLICAS} coordinator replicas are ready: a leader and two standbys`,
  needs: 'api',
  async observe(env): Promise<CoordinatorsObservation> {
    const deployment = await orNull(
      env.kube.apps.readNamespacedDeployment({ name: COORDINATOR, namespace: env.namespace }),
    )
    if (!deployment) return { deployment: null, pods: [] }
    return {
      deployment: { replicas: deployment.spec?.replicas ?? 1, ready: deployment.status?.readyReplicas ?? 0 },
      pods: (await podsOf(env, COORDINATOR)).map((pod) => ({
        name: nameOf(pod),
        node: pod.spec?.nodeName,
        ready: isReady(pod),
      })),
    }
  },
  evaluate({ deployment, pods }: CoordinatorsObservation) {
    if (deployment === null) {
      return fail(
        `a Deployment named ${COORDINATOR}`,
        'no such Deployment',
        `is 40-coordinator-deployment.yaml applied? ${kubectl(`get deployment ${COORDINATOR}`)}`,
      )
    }
    if (deployment.replicas < REPLICAS) {
      return fail(
        `replicas: ${REPLICAS}`,
        `replicas: ${deployment.replicas}`,
        'with one coordinator there is no standby: when it is lost, nobody decides until Kubernetes starts another ' +
          'and it takes the Lease; run three, so that one can lead, one take over, and one be restarted',
      )
    }
    if (deployment.ready >= REPLICAS) return pass
    const seen = `${deployment.ready} of ${REPLICAS} Ready: ${list(pods.map((p) => `${p.name} ${p.ready ? 'Ready' : p.node ? 'not Ready' : 'Pending'}`))}`
    const notReady = pods.find((p) => !p.ready)
    return fail(
      `${REPLICAS} Ready coordinator pods`,
      seen,
      notReady
        ? `a coordinator is Ready once it knows a leader: ${kubectl(`logs ${notReady.name}`)}; ` +
            '"forbidden" names a permission its Role lacks, exit code 2 a bad flag (such as lease timings that break the rule)'
        : `the ReplicaSet creates no pods: ${kubectl(`describe replicaset -l app.kubernetes.io/name=${COORDINATOR}`)}`,
    )
  },
})

// ---------- the lease timings ----------

export interface TimingsObservation {
  args: string[]
}

/** The three timings a coordinator would use with these arguments, in milliseconds. */
export function timingsOf(args: readonly string[]) {
  const read = (name: string, fallback: number) => {
    const value = flag(args, name)
    return value === undefined ? fallback : Number(value)
  }
  return {
    leaseDurationMs: read('--lease-duration-ms', defaultTimings.leaseDurationMs),
    renewDeadlineMs: read('--renew-deadline-ms', defaultTimings.renewDeadlineMs),
    retryPeriodMs: read('--retry-period-ms', defaultTimings.retryPeriodMs),
  }
}

export const leaseTimings = check({
  id: 'lease-timings',
  title: 'the lease duration is longer than the renew deadline, which is longer than 1.2 retry periods',
  needs: 'api',
  async observe(env): Promise<TimingsObservation | null> {
    const deployment = await orNull(
      env.kube.apps.readNamespacedDeployment({ name: COORDINATOR, namespace: env.namespace }),
    )
    if (!deployment) return null
    return { args: deployment.spec?.template.spec?.containers[0]?.args ?? [] }
  },
  evaluate(observation: TimingsObservation | null) {
    if (observation === null) {
      return fail(
        `a Deployment named ${COORDINATOR}`,
        'no such Deployment',
        'is 40-coordinator-deployment.yaml applied?',
      )
    }
    const timings = timingsOf(observation.args)
    try {
      validateTimings(timings)
      return pass
    } catch (error) {
      const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = timings
      return fail(
        `lease duration > renew deadline > ${jitterFactor} × retry period`,
        `${leaseDurationMs} ms, ${renewDeadlineMs} ms, ${retryPeriodMs} ms`,
        `${(error as Error).message}. The leader stops acting at the renew deadline; standbys take over a lease duration ` +
          'after they last saw it renewed. Only if the deadline is shorter does the old leader stop before a new one starts; ' +
          'the coordinator refuses to start otherwise (exit code 2)',
      )
    }
  },
})

// ---------- least privilege ----------

/** One question put to the API server's authorizer about one account. */
export interface Access extends AccessWithoutAccount {
  account: string
}

const lease = { group: 'coordination.k8s.io', resource: 'leases' }
const configmaps = { group: '', resource: 'configmaps' }
const readsAccepted = (account: string): Access[] =>
  ['get', 'list', 'watch'].map((verb) => ({ account, verb, ...configmaps, name: ACCEPTED }))

/** What each account needs: the coordinator's Role, and the readers of the accepted configuration. */
export const mayDo: readonly Access[] = [
  ...['get', 'update'].map((verb) => ({ account: COORDINATOR, verb, ...lease, name: LEASE })),
  ...['get', 'list', 'watch'].map((verb) => ({ account: COORDINATOR, verb, ...configmaps, name: DESIRED })),
  ...['get', 'update'].map((verb) => ({ account: COORDINATOR, verb, ...configmaps, name: ACCEPTED })),
  ...['list', 'watch'].map((verb) => ({ account: COORDINATOR, verb, group: '', resource: 'pods' })),
  { account: COORDINATOR, verb: 'patch', group: '', resource: 'pods', subresource: 'status', name: LEADER_RANK },
  { account: COORDINATOR, verb: 'create', group: '', resource: 'events' },
  ...readsAccepted('model-server'),
  ...readsAccepted(ROUTER),
]

/** A sample of what they must not do. */
export const mayNotDo: readonly Access[] = [
  { account: COORDINATOR, verb: 'update', ...lease, name: 'another-lease' },
  { account: COORDINATOR, verb: 'get', ...lease, name: 'kube-scheduler', namespace: 'kube-system' },
  { account: COORDINATOR, verb: 'update', ...configmaps, name: DESIRED },
  { account: COORDINATOR, verb: 'update', ...configmaps, name: 'kube-root-ca.crt' },
  { account: COORDINATOR, verb: 'get', ...configmaps, name: 'kube-root-ca.crt' },
  { account: COORDINATOR, verb: 'get', group: '', resource: 'secrets', name: 'llama-3-70b-group' },
  { account: COORDINATOR, verb: 'patch', group: '', resource: 'pods', name: LEADER_RANK },
  { account: COORDINATOR, verb: 'delete', group: '', resource: 'pods', name: LEADER_RANK },
  { account: 'model-server', verb: 'get', ...configmaps, name: DESIRED },
  { account: 'model-server', verb: 'update', ...configmaps, name: ACCEPTED },
  { account: ROUTER, verb: 'update', ...configmaps, name: ACCEPTED },
  { account: ROUTER, verb: 'list', ...configmaps },
]

export interface AccessObservation {
  answers: Answered<Access>[]
}

export const describeAccess = (access: Access) => `${access.account}: ${describeWithoutAccount(access)}`

export const leastPrivilege = check({
  id: 'least-privilege',
  title: 'the coordinator, model servers and router may do what they need and nothing more',
  needs: 'api',
  async observe(env): Promise<AccessObservation> {
    const answers = await askAuthorizer(env, [...mayDo, ...mayNotDo], (access) => ({
      account: access.account,
      attributes: accessAttributes(env, access),
    }))
    return { answers }
  },
  evaluate({ answers }: AccessObservation) {
    const { refused, granted } = judgeAccess(answers, mayDo, mayNotDo, describeAccess)
    if (refused.length > 0) {
      const first = refused[0]!
      const why =
        first.resource === 'leases'
          ? `without ${first.verb} on the Lease ${LEASE} no coordinator can ${first.verb === 'update' ? 'take or renew' : 'read'} it, so none leads. `
          : first.subresource === 'status'
            ? 'without patch on pods/status the leader cannot set the readiness gate, so the group is never Ready. '
            : first.resource === 'configmaps' && first.account === COORDINATOR
              ? `the leader reads ${DESIRED} (get, list, watch) and writes ${ACCEPTED} (get, update). `
              : first.resource === 'configmaps'
                ? `the ${first.account} follows ${ACCEPTED} with get, list and watch, by name. `
                : ''
      return fail(
        `allowed: ${list(mayDo.map(describeAccess))}`,
        `refused: ${list(refused.map(describeAccess))}`,
        `${why}The Role ${first.account} in ${NAMESPACE} must grant it, and the RoleBinding ${first.account} bind it ` +
          `to the ServiceAccount ${first.account}: ${kubectl(`describe role,rolebinding ${first.account}`)}`,
      )
    }
    if (granted.length > 0) {
      const byName = granted.some((a) => a.resource === 'configmaps' || a.resource === 'leases')
      return fail(
        `refused: ${list(mayNotDo.map(describeAccess))}`,
        `allowed: ${list(listGranted(granted, describeAccess))}`,
        (byName
          ? 'a rule on configmaps or leases without resourceNames grants every one of them in the namespace: ' +
            'list the names (coordinator, serving-config, serving-config-accepted), one rule per set of verbs. '
          : '') +
          'A wildcard ("*"), a binding to a broad ClusterRole (view, edit), or pods where pods/status is meant also grant ' +
          'more; the reason in brackets names the rule',
      )
    }
    return pass
  },
})

// ---------- the disruption budget ----------

export const budget = check({
  id: 'budget',
  title: 'the coordinators’ disruption budget allows one eviction at a time',
  needs: 'api',
  observe: (env) => observeBudget(env, COORDINATOR),
  evaluate(pdb: BudgetObservation | null) {
    if (!pdb || pdb.expectedPods === 0) return budgetMissing(pdb, COORDINATOR, '45-coordinator-pdb.yaml', REPLICAS)
    const rule = budgetRule(pdb)
    const seen = `${pdb.disruptionsAllowed} disruptions allowed (${rule}, ${pdb.currentHealthy} of ${pdb.expectedPods} healthy)`
    if (pdb.disruptionsAllowed === 1) return pass
    if (pdb.disruptionsAllowed > 1) {
      return fail(
        '1 disruption allowed',
        seen,
        'a drain could take the leader and a standby at once; minAvailable: 2 keeps a leader and a standby',
      )
    }
    if (pdb.currentHealthy < pdb.expectedPods) {
      return fail('1 disruption allowed', seen, 'not every coordinator is Ready yet: see the first check')
    }
    return fail(
      '1 disruption allowed',
      seen,
      `${rule} with ${pdb.expectedPods} coordinators allows no eviction: every node drain would wait forever. Use minAvailable: 2`,
    )
  },
})

// ---------- the readiness gate and the startup order, as written ----------

export interface TemplateObservation {
  podManagementPolicy: string
  readinessGates: string[]
  /** The init containers: their command and args, and their environment by name. */
  initContainers: { name: string; command: string[]; env: Record<string, string> }[]
  /** The model server's own environment by name. */
  env: Record<string, string>
}

const envOf = (vars: readonly { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[]) =>
  Object.fromEntries(
    vars.map((v) => [v.name, v.valueFrom?.fieldRef ? `fieldRef:${v.valueFrom.fieldRef.fieldPath}` : (v.value ?? '')]),
  )

async function observeTemplate(env: CheckEnv): Promise<TemplateObservation | null> {
  const set = await orNull(env.kube.apps.readNamespacedStatefulSet({ name: SET, namespace: env.namespace }))
  if (!set) return null
  const pod = set.spec!.template.spec!
  return {
    podManagementPolicy: set.spec?.podManagementPolicy ?? 'OrderedReady',
    readinessGates: (pod.readinessGates ?? []).map((g) => g.conditionType),
    initContainers: (pod.initContainers ?? []).map((c) => ({
      name: c.name,
      command: [...(c.command ?? []), ...(c.args ?? [])],
      env: envOf(c.env ?? []),
    })),
    env: envOf(pod.containers[0]?.env ?? []),
  }
}

const noStatefulSet = fail(
  `a StatefulSet named ${SET}`,
  'no such StatefulSet',
  `is 50-statefulset.yaml applied? ${kubectl(`get statefulset ${SET}`)}`,
)

export const readinessGate = check({
  id: 'readiness-gate',
  title: `the ranks have a readiness gate on ${GROUP_READY_CONDITION}, the condition the coordinator sets`,
  needs: 'api',
  observe: observeTemplate,
  evaluate(template: TemplateObservation | null) {
    if (template === null) return noStatefulSet
    if (template.readinessGates.includes(GROUP_READY_CONDITION)) return pass
    return fail(
      `readinessGates: [{ conditionType: ${GROUP_READY_CONDITION} }]`,
      template.readinessGates.length ? `conditionType ${list(template.readinessGates)}` : 'no readiness gate',
      template.readinessGates.length
        ? `the coordinator sets only ${GROUP_READY_CONDITION}: a gate on any other condition type is never True, ` +
            'so the ranks are never Ready on a real cluster'
        : 'without the gate a rank is Ready as soon as its own probe passes, whatever the rest of the group does',
    )
  },
})

export const startupOrder = check({
  id: 'startup-order',
  title: 'rank 1 waits for rank 0: an init container holds it until the rendezvous answers',
  needs: 'api',
  observe: observeTemplate,
  evaluate(template: TemplateObservation | null) {
    if (template === null) return noStatefulSet
    const waiting = template.initContainers.find((c) => c.command.includes(WAIT_FLAG))
    if (!waiting) {
      return fail(
        `an init container running model-server.mjs ${WAIT_FLAG}`,
        template.initContainers.length
          ? `init containers: ${list(template.initContainers.map((c) => c.name))}`
          : 'none',
        'without it rank 1 starts as soon as it is scheduled, maybe before rank 0 exists or its DNS name resolves, ' +
          'and fails to join; the init container must exit 0 first, and does so only once rank 0 listens',
      )
    }
    const differs = ['NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT'].filter(
      (name) => waiting.env[name] !== template.env[name],
    )
    if (differs.length > 0) {
      return fail(
        `${waiting.name} with the model server's ${list(differs)}`,
        list(
          differs.map((name) => `${name} ${waiting.env[name] ?? 'unset'} (server: ${template.env[name] ?? 'unset'})`),
        ),
        'the init container must wait for the very address the server will join, and know its rank (rank 0 waits for nobody)',
      )
    }
    if (template.podManagementPolicy !== 'Parallel') {
      return fail(
        'podManagementPolicy Parallel',
        `podManagementPolicy ${template.podManagementPolicy}`,
        'the order comes from the init container; with OrderedReady pod 1 waits for pod 0 to be Ready, which needs pod 1: a deadlock',
      )
    }
    return pass
  },
})

// ---------- pods: the leader ----------

export interface LeaseView {
  holder: string
  transitions: number
  durationSeconds?: number
}

async function readLease(env: CheckEnv): Promise<LeaseView | null> {
  const leases = env.kube.config.makeApiClient(CoordinationV1Api)
  const found = await orNull(leases.readNamespacedLease({ name: LEASE, namespace: env.namespace }))
  if (!found) return null
  return {
    holder: found.spec?.holderIdentity ?? '',
    transitions: found.spec?.leaseTransitions ?? 0,
    ...(found.spec?.leaseDurationSeconds !== undefined ? { durationSeconds: found.spec.leaseDurationSeconds } : {}),
  }
}

/** What a coordinator says on GET /health. */
export interface CoordinatorHealth {
  pod: string
  role?: string
  leader?: string
  error?: string
}

async function healthOf(env: CheckEnv, pod: V1Pod): Promise<CoordinatorHealth> {
  const name = nameOf(pod)
  const answer = await proxyAnswer(podProxyGet(env.kube, env.namespace, `${name}:${COORDINATOR_PORT}`, '/health'))
  if (answer.status !== 200) return { pod: name, error: `${answer.status || 'no answer'}` }
  try {
    const body = JSON.parse(answer.body) as { role?: string; leader?: string }
    return { pod: name, ...(body.role ? { role: body.role } : {}), ...(body.leader ? { leader: body.leader } : {}) }
  } catch {
    return { pod: name, error: 'not JSON' }
  }
}

export interface LeaderObservation {
  lease: LeaseView | null
  /** The coordinator pods that run (not being deleted). */
  live: string[]
  health: CoordinatorHealth[]
}

async function observeLeader(env: CheckEnv): Promise<LeaderObservation> {
  const pods = (await podsOf(env, COORDINATOR)).filter((pod) => pod.status?.phase === 'Running')
  return {
    lease: await readLease(env),
    live: pods.map(nameOf).sort(),
    health: await Promise.all(pods.map((pod) => healthOf(env, pod))),
  }
}

/** Why the observation does not show exactly one leader, a live coordinator; undefined when it does. */
function leaderProblem({ lease, live, health }: LeaderObservation) {
  if (lease === null) {
    return fail(`a Lease named ${LEASE}`, 'no such Lease', 'is 35-coordinator-lease.yaml applied?')
  }
  if (lease.holder === '') {
    return fail(
      `the Lease ${LEASE} held`,
      'no holder',
      `no coordinator has taken it: ${kubectl(`logs -l app.kubernetes.io/name=${COORDINATOR}`)}; "forbidden" names a missing permission`,
    )
  }
  if (!live.includes(lease.holder)) {
    return fail(
      'the holder to be a running coordinator pod',
      `holder ${lease.holder}; running: ${list(live)}`,
      'the holder is gone and nobody has taken over yet: a standby waits a lease duration after the last renew it saw',
    )
  }
  const leaders = health.filter((h) => h.role === 'leader').map((h) => h.pod)
  if (leaders.length !== 1 || leaders[0] !== lease.holder) {
    return fail(
      `exactly one coordinator saying role leader: ${lease.holder}`,
      `leaders: ${list(leaders)}; ${list(health.map((h) => `${h.pod} ${h.role ?? h.error}`))}`,
      'every replica must use the same Lease (--lease-name) and its own identity (POD_NAME from metadata.name)',
    )
  }
  return undefined
}

export const oneLeader = check({
  id: 'one-leader',
  title: 'exactly one coordinator leads, and it is a live coordinator pod',
  needs: 'pods',
  timeoutMs: 30_000,
  observe: observeLeader,
  evaluate: (observation: LeaderObservation) => leaderProblem(observation) ?? pass,
})

// ---------- pods: failover ----------

/** The lab's timings (40-coordinator-deployment.yaml): the longest a takeover may take. */
const LAB_LEASE_MS = 8_000
const LAB_RETRY_MS = 1_000
/** A takeover must be seen within lease duration + retry period, plus this for polling and the API. */
const FAILOVER_SLACK_MS = 3_000
export const FAILOVER_LIMIT_MS = LAB_LEASE_MS + LAB_RETRY_MS + FAILOVER_SLACK_MS

export interface FailoverObservation {
  before: { holder: string; transitions: number }
  now: LeaderObservation
  /** Milliseconds from the deletion to the first sighting of a new holder; unset until seen. */
  takeoverMs?: number
}

function failoverCheck() {
  let before = { holder: '', transitions: 0 }
  let deletedAt = 0
  let takeoverMs: number | undefined
  return check({
    id: 'failover',
    title: `deleting the leader's pod gives a new leader within lease duration + retry period, one transition later`,
    needs: 'pods',
    timeoutMs: FAILOVER_LIMIT_MS + 10_000,
    async act(env) {
      const lease = await readLease(env)
      if (!lease?.holder) throw new Error(`the Lease ${LEASE} has no holder before the experiment`)
      before = { holder: lease.holder, transitions: lease.transitions }
      takeoverMs = undefined
      deletedAt = Date.now()
      await env.kube.core.deleteNamespacedPod({ name: lease.holder, namespace: env.namespace })
    },
    async observe(env): Promise<FailoverObservation> {
      const now = await observeLeader(env)
      if (takeoverMs === undefined && now.lease?.holder && now.lease.holder !== before.holder)
        takeoverMs = Date.now() - deletedAt
      return { before, now, ...(takeoverMs !== undefined ? { takeoverMs } : {}) }
    },
    evaluate({ before: was, now, takeoverMs: took }: FailoverObservation) {
      if (took === undefined || now.lease?.holder === was.holder) {
        return fail(
          `a holder other than ${was.holder}`,
          `holder ${now.lease?.holder || 'none'}`,
          'no standby has taken over yet: a standby takes the Lease a lease duration after the last renew it saw, ' +
            'or at its next retry if the leader released it on SIGTERM',
        )
      }
      const problem = leaderProblem(now)
      if (problem) return problem
      if (took > FAILOVER_LIMIT_MS) {
        return fail(
          `a new leader within ${FAILOVER_LIMIT_MS / 1000} s (lease ${LAB_LEASE_MS / 1000} s + retry ${LAB_RETRY_MS / 1000} s + slack)`,
          `after ${(took / 1000).toFixed(1)} s`,
          'check --lease-duration-ms and --retry-period-ms; a leader that releases the Lease on SIGTERM is replaced in about a retry period',
        )
      }
      if (now.lease!.transitions !== was.transitions + 1) {
        return fail(
          `leaseTransitions ${was.transitions + 1}`,
          `leaseTransitions ${now.lease!.transitions}`,
          'each change of holder counts one transition: more means the lead changed hands again (a leader that cannot renew in time)',
        )
      }
      return pass
    },
  })
}
export const failover = failoverCheck()

// ---------- pods: the configuration ----------

/** What a model server or router answers on GET /config. */
export interface ConfigAnswer {
  pod: string
  generation?: number
  fencingToken?: number
  applied?: Record<string, unknown>
  error?: string
}

async function configOf(env: CheckEnv, pod: string, port: number): Promise<ConfigAnswer> {
  const answer = await proxyAnswer(podProxyGet(env.kube, env.namespace, `${pod}:${port}`, '/config'))
  if (answer.status !== 200)
    return { pod, error: `GET /config: ${answer.status || 'no answer'} ${answer.body.slice(0, 120)}` }
  try {
    const body = JSON.parse(answer.body) as Omit<ConfigAnswer, 'pod'>
    return { pod, ...body }
  } catch {
    return { pod, error: 'GET /config is not JSON' }
  }
}

export interface ConfigObservation {
  /** The value this check wrote to the desired ConfigMap. */
  wanted: Record<string, string>
  accepted: { generation: number; data: Record<string, string> } | null
  workloads: ConfigAnswer[]
  /** ConfigRejected Events on the desired ConfigMap since the edit. */
  rejections: string[]
}

async function readAccepted(env: CheckEnv): Promise<ConfigObservation['accepted']> {
  const map = await orNull(env.kube.core.readNamespacedConfigMap({ name: ACCEPTED, namespace: env.namespace }))
  if (!map) return null
  return { generation: Number(map.metadata?.annotations?.[GENERATION_ANNOTATION] ?? 0), data: map.data ?? {} }
}

async function editDesired(env: CheckEnv, data: Record<string, string>): Promise<void> {
  const map = await env.kube.core.readNamespacedConfigMap({ name: DESIRED, namespace: env.namespace })
  await env.kube.core.replaceNamespacedConfigMap({
    name: DESIRED,
    namespace: env.namespace,
    body: { ...map, data: { ...map.data, ...data } },
  })
}

async function observeConfig(env: CheckEnv, wanted: Record<string, string>, since: Date): Promise<ConfigObservation> {
  const servers = ranks.map((pod) => configOf(env, pod, SERVER_PORT))
  const routers = (await podsOf(env, ROUTER)).map((pod) => configOf(env, nameOf(pod), ROUTER_PORT))
  const events = await env.kube.core.listNamespacedEvent({
    namespace: env.namespace,
    fieldSelector: `involvedObject.name=${DESIRED},reason=${EventReasons.configRejected}`,
  })
  return {
    wanted,
    accepted: await readAccepted(env),
    workloads: await Promise.all([...servers, ...routers]),
    rejections: events.items
      .filter((e) => new Date(e.lastTimestamp ?? e.eventTime ?? 0) >= since)
      .map((e) => e.message ?? ''),
  }
}

const sameValue = (applied: Record<string, unknown> | undefined, key: string, value: string) =>
  applied !== undefined && String(applied[key]) === value

/** The value the edit sets: different from the last one, so every run is a change. */
export const nextMaxNumSeqs = (current: string | undefined) => (current === '48' ? '40' : '48')

function configReachesCheck() {
  let wanted: Record<string, string> = {}
  let since = new Date()
  return check({
    id: 'config-reaches',
    title: 'a configuration edit reaches every model server and router',
    needs: 'pods',
    timeoutMs: 30_000,
    async act(env) {
      const map = await env.kube.core.readNamespacedConfigMap({ name: DESIRED, namespace: env.namespace })
      wanted = { 'max-num-seqs': nextMaxNumSeqs(map.data?.['max-num-seqs']), policy: 'round-robin' }
      since = new Date(Date.now() - 1000)
      await editDesired(env, wanted)
    },
    observe: (env) => observeConfig(env, wanted, since),
    evaluate({ wanted: edit, accepted, workloads, rejections }: ConfigObservation) {
      if (rejections.length > 0) {
        return fail(
          `${DESIRED} accepted`,
          `ConfigRejected: ${rejections[0]}`,
          'the edit itself is invalid; see the message',
        )
      }
      const missing = Object.entries(edit).filter(([key, value]) => accepted?.data[key] !== value)
      if (accepted === null || missing.length > 0) {
        return fail(
          `${ACCEPTED} with ${list(Object.entries(edit).map(([k, v]) => `${k}=${v}`))}`,
          accepted === null
            ? 'no such ConfigMap'
            : `generation ${accepted.generation}: ${JSON.stringify(accepted.data)}`,
          `only the leader writes ${ACCEPTED}: is there one (previous checks), and may it update that ConfigMap? ` +
            kubectl(`get events --field-selector involvedObject.name=${DESIRED}`),
        )
      }
      // Each workload applies its own keys: the model servers max-num-seqs, the routers policy.
      const applies = (w: ConfigAnswer) =>
        Object.entries(edit).every(
          ([key, value]) => !w.applied || !(key in w.applied) || sameValue(w.applied, key, value),
        )
      const behind = workloads.filter((w) => w.generation !== accepted.generation || !applies(w))
      if (behind.length > 0) {
        return fail(
          `every model server and router at generation ${accepted.generation}`,
          list(behind.map((w) => `${w.pod}: ${w.error ?? `generation ${w.generation}`}`)),
          `each follows ${ACCEPTED} when ACCEPTED_CONFIG names it and its Role lets it get, list and watch that ConfigMap by name; ` +
            kubectl(`logs ${behind[0]!.pod}`),
        )
      }
      return pass
    },
  })
}
export const configReaches = configReachesCheck()

export interface RefusedObservation extends ConfigObservation {
  /** The accepted version before the invalid edit. */
  before: { generation: number; data: Record<string, string> } | null
}

export const INVALID_EDIT = { 'max-num-seqs': '-1' }

function invalidRefusedCheck() {
  let before: RefusedObservation['before'] = null
  let since = new Date()
  return check({
    id: 'invalid-refused',
    title: 'an invalid edit is refused and changes nothing',
    needs: 'pods',
    timeoutMs: 20_000,
    async act(env) {
      before = await readAccepted(env)
      since = new Date(Date.now() - 1000)
      await editDesired(env, INVALID_EDIT)
    },
    async observe(env): Promise<RefusedObservation> {
      return { before, ...(await observeConfig(env, INVALID_EDIT, since)) }
    },
    evaluate({ before: was, accepted, workloads, rejections }: RefusedObservation) {
      if (was === null || accepted === null) {
        return fail(`${ACCEPTED} before and after`, 'no such ConfigMap', 'is 20-serving-config.yaml applied?')
      }
      if (accepted.generation !== was.generation || JSON.stringify(accepted.data) !== JSON.stringify(was.data)) {
        return fail(
          `${ACCEPTED} unchanged at generation ${was.generation}`,
          `generation ${accepted.generation}: ${JSON.stringify(accepted.data)}`,
          `max-num-seqs -1 must be refused: the leader validates every key with the workload's own rules before it copies anything`,
        )
      }
      const moved = workloads.filter((w) => w.generation !== was.generation)
      if (moved.length > 0) {
        return fail(
          `every workload still at generation ${was.generation}`,
          list(moved.map((w) => `${w.pod}: ${w.error ?? `generation ${w.generation}`}`)),
          `the workloads must follow ${ACCEPTED}, never ${DESIRED} itself (ACCEPTED_CONFIG)`,
        )
      }
      if (rejections.length === 0) {
        return fail(
          `a Warning Event ${EventReasons.configRejected} on ${DESIRED}`,
          'none since the edit',
          `the leader says why it refused a version: ${kubectl(`get events --field-selector involvedObject.name=${DESIRED}`)}`,
        )
      }
      return pass
    },
  })
}
export const invalidRefused = invalidRefusedCheck()

// ---------- pods: the readiness gate at work, and the startup order that held ----------

export interface RankState {
  pod: string
  ready: boolean
  gate?: { status: string; reason?: string }
}

const rankState = (pod: V1Pod): RankState => {
  const condition = pod.status?.conditions?.find((c) => c.type === GROUP_READY_CONDITION)
  return {
    pod: nameOf(pod),
    ready: isReady(pod),
    ...(condition
      ? { gate: { status: condition.status, ...(condition.reason ? { reason: condition.reason } : {}) } }
      : {}),
  }
}

const observeRanks = async (env: CheckEnv) =>
  (await podsOf(env, SET)).map(rankState).sort((a, b) => a.pod.localeCompare(b.pod))

const gateOpen = (rank: RankState) => rank.gate?.status === 'True' && rank.gate.reason === readyReason

function wholeGroupReady(states: readonly RankState[]) {
  if (states.length < NNODES) {
    return fail(`${NNODES} rank pods`, list(states.map((s) => s.pod)), kubectl(`describe statefulset ${SET}`))
  }
  const closed = states.filter((s) => !gateOpen(s) || !s.ready)
  if (closed.length === 0) return undefined
  const describe = (s: RankState) =>
    `${s.pod}: ${GROUP_READY_CONDITION} ${s.gate ? `${s.gate.status}${s.gate.reason ? ` (${s.gate.reason})` : ' (no reason)'}` : 'unset'}, ${s.ready ? 'Ready' : 'not Ready'}`
  return fail(
    `${GROUP_READY_CONDITION} True (${readyReason}) and Ready on every rank`,
    list(closed.map(describe)),
    closed.some((s) => s.gate?.status === 'True' && s.gate.reason !== readyReason)
      ? `a True condition without reason ${readyReason} was not set by the coordinator`
      : `the coordinator's leader sets the condition from rank 0's GET /group; the reason says what it saw ` +
          `(RankMissing, GroupForming, LeaderUnreachable…); ${kubectl('get events')}`,
  )
}

export const gateOpens = check({
  id: 'gate-opens',
  title: 'the coordinator opens the readiness gate of every rank once the group is formed',
  needs: 'pods',
  timeoutMs: 60_000,
  observe: observeRanks,
  evaluate: (states: RankState[]) => wholeGroupReady(states) ?? pass,
})

export interface StartupObservation {
  /** When rank 0's model server started, and when rank 1's wait ended and how. */
  leaderStarted?: string
  waiter?: { exitCode?: number; finishedAt?: string }
}

export const startedInOrder = check({
  id: 'started-in-order',
  title: "rank 1's wait ended after rank 0's server started",
  needs: 'pods',
  timeoutMs: 20_000,
  async observe(env): Promise<StartupObservation> {
    const pods = new Map((await podsOf(env, SET)).map((pod) => [nameOf(pod), pod]))
    const started = pods.get(LEADER_RANK)?.status?.containerStatuses?.[0]?.state?.running?.startedAt
    const waited = pods.get(WORKER_RANK)?.status?.initContainerStatuses?.[0]?.state?.terminated
    return {
      ...(started ? { leaderStarted: new Date(started).toISOString() } : {}),
      ...(waited
        ? {
            waiter: {
              exitCode: waited.exitCode,
              ...(waited.finishedAt ? { finishedAt: new Date(waited.finishedAt).toISOString() } : {}),
            },
          }
        : {}),
    }
  },
  evaluate({ leaderStarted, waiter }: StartupObservation) {
    if (!leaderStarted) {
      return fail(`${LEADER_RANK}'s server running`, 'not running', kubectl(`describe pod ${LEADER_RANK}`))
    }
    if (!waiter || waiter.exitCode !== 0 || !waiter.finishedAt) {
      return fail(
        `${WORKER_RANK}'s init container finished with exit code 0`,
        waiter ? `exit code ${waiter.exitCode}` : 'not finished',
        `it waits for ${LEADER_RANK}'s rendezvous port, bounded by --wait-timeout-ms: ${kubectl(`logs ${WORKER_RANK} -c wait-for-rank-0`)}`,
      )
    }
    // Kubernetes records times to the second: equal seconds count as in order.
    if (Math.floor(Date.parse(waiter.finishedAt) / 1000) < Math.floor(Date.parse(leaderStarted) / 1000)) {
      return fail(
        `${WORKER_RANK}'s wait ended at or after ${leaderStarted}`,
        `it ended at ${waiter.finishedAt}`,
        'rank 1 went on before rank 0 ran: the init container must wait for MASTER_ADDR:MASTER_PORT to answer, not only resolve',
      )
    }
    return pass
  },
})

export interface GateFollowsObservation {
  /** What showed the gate closed since the deletion; unset until seen. */
  closedSeen?: string
  now: RankState[]
}

function gateFollowsCheck() {
  let closedSeen: string | undefined
  return check({
    id: 'gate-follows-group',
    title: 'killing rank 1 turns the gate and Ready false on rank 0, and both come back once the group re-forms',
    needs: 'pods',
    timeoutMs: 120_000,
    async act(env) {
      closedSeen = undefined
      await env.kube.core.deleteNamespacedPod({ name: WORKER_RANK, namespace: env.namespace })
    },
    async observe(env): Promise<GateFollowsObservation> {
      const now = await observeRanks(env)
      const leader = now.find((s) => s.pod === LEADER_RANK)
      if (!closedSeen && leader && leader.gate?.status === 'False' && !leader.ready)
        closedSeen = `${GROUP_READY_CONDITION} False (${leader.gate.reason ?? 'no reason'}), not Ready`
      return { now, ...(closedSeen ? { closedSeen } : {}) }
    },
    evaluate({ closedSeen: closed, now }: GateFollowsObservation) {
      if (!closed) {
        const leader = now.find((s) => s.pod === LEADER_RANK)
        return fail(
          `${LEADER_RANK}: ${GROUP_READY_CONDITION} False and not Ready after ${WORKER_RANK} was deleted`,
          leader ? `${leader.gate?.status ?? 'unset'}, ${leader.ready ? 'Ready' : 'not Ready'}` : 'no pod',
          'the leader sets the condition False (RankMissing) as soon as a rank has no pod; ' +
            `the pod turns not Ready only if its readinessGates list ${GROUP_READY_CONDITION}`,
        )
      }
      return wholeGroupReady(now) ?? pass
    },
  })
}
export const gateFollowsGroup = gateFollowsCheck()

export const checks: Check[] = [
  coordinators,
  leaseTimings,
  leastPrivilege,
  budget,
  readinessGate,
  startupOrder,
  oneLeader,
  failover,
  configReaches,
  invalidRefused,
  gateOpens,
  startedInOrder,
  gateFollowsGroup,
]

if (isMain(import.meta.url)) await runStandalone(import.meta.url, checks)
