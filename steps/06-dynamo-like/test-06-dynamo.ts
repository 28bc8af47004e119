#!/usr/bin/env -S npx tsx
// Step 06 verification: the lab scheduler binds the model-server groups as gangs, packed by
// topology, and leaves the gang that cannot fit wholly pending; the frontend queues by priority,
// enforces deadlines and queue bounds, and routes a shared prefix to the server that holds it.
// Runs alone (`npx tsx steps/06-dynamo-like/test-06-dynamo.ts [--context NAME] [--json]`)
// and is what `npm run step 06` runs after applying the step.
import type { CoreV1Event, V1Node, V1Pod } from '@kubernetes/client-node'
import { CoordinationV1Api, CustomObjectsApi, SchedulingV1Api } from '@kubernetes/client-node'
import { GPU_RESOURCE, LABELS } from '../../scripts/lib/cluster/topology.ts'
import { check, fail, NAMESPACE, pass, type Check, type CheckEnv } from '../../scripts/lib/checks/check.ts'
import {
  accessAttributes,
  ALL_NAMESPACES as ALL,
  askAuthorizer,
  describeAccess as describeWithoutAccount,
  isReady,
  judgeAccess,
  kubectl,
  list,
  listGranted,
  nameOf,
  orNull,
  podsOf,
  type Access as AccessWithoutAccount,
  type Answered,
} from '../../scripts/lib/checks/kit.ts'
import { isMain, runStandalone } from '../../scripts/lib/checks/standalone.ts'
import { podProxyGet, proxyAnswer, proxyPost, type ProxyResponse } from '../../scripts/lib/kube.ts'
import { deadlineHeader } from '../../workloads/frontend/request-fields.ts'
import { GPU_MEMORY_ANNOTATION, POD_GROUP_LABEL, POD_GROUPS } from '../../workloads/scheduler/gangs.ts'

const SCHEDULER = 'scheduler'
const SCHEDULER_NAME = 'serving-lab-scheduler'
const LEASE = 'serving-lab-scheduler'
const SCHEDULER_REPLICAS = 2
const GROUPS = ['llama-a', 'llama-b'] as const
const RANKS = 2
const UNFIT = 'llama-405b'
const UNFIT_PODS = [`${UNFIT}-0`, `${UNFIT}-1`]
const INVENTORY = 'gpu-inventory'
const FRONTEND = 'frontend'
const FRONTEND_REPLICAS = 2
const FRONTEND_PORT = 8080
const LEADERS = 'model-leaders'
const MODEL = 'meta-llama/Meta-Llama-3-70B-Instruct'
const BACKEND_HEADER = 'x-serving-lab-backend'
const POD_INDEX = 'apps.kubernetes.io/pod-index'

const flag = (args: readonly string[], name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}

const gpusOf = (pod: V1Pod) =>
  (pod.spec?.containers ?? []).reduce((sum, c) => sum + Number(c.resources?.limits?.[GPU_RESOURCE] ?? 0), 0)

const when = (event: CoreV1Event) =>
  new Date(event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? 0).getTime()

/** Who recorded an Event: the reporting controller, else the older source component. */
const reporterOf = (event: CoreV1Event) => event.reportingComponent || event.source?.component || 'unknown'

/** The latest Event of a reason for each pod of the namespace, by pod name. */
async function latestEvents(env: CheckEnv, reason: string): Promise<Map<string, CoreV1Event>> {
  const events = await env.kube.core.listNamespacedEvent({
    namespace: env.namespace,
    fieldSelector: `reason=${reason},involvedObject.kind=Pod`,
  })
  const latest = new Map<string, CoreV1Event>()
  for (const event of events.items) {
    const pod = event.involvedObject.name!
    const seen = latest.get(pod)
    if (!seen || when(event) >= when(seen)) latest.set(pod, event)
  }
  return latest
}

// ---------- the scheduler: two replicas, one leader ----------

export interface SchedulerObservation {
  deployment: { replicas: number; ready: number } | null
  /** The Lease's holder, or null when it has none (or there is no Lease). */
  holder: string | null
}

export const schedulerLeads = check({
  id: 'scheduler-leads',
  title: `${SCHEDULER_REPLICAS} scheduler replicas are ready and one holds the Lease ${LEASE}`,
  needs: 'api',
  async observe(env): Promise<SchedulerObservation> {
    const deployment = await orNull(
      env.kube.apps.readNamespacedDeployment({ name: SCHEDULER, namespace: env.namespace }),
    )
    const lease = await orNull(
      env.kube.config.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: LEASE, namespace: env.namespace }),
    )
    return {
      deployment: deployment
        ? { replicas: deployment.spec?.replicas ?? 1, ready: deployment.status?.readyReplicas ?? 0 }
        : null,
      holder: lease?.spec?.holderIdentity || null,
    }
  },
  evaluate({ deployment, holder }: SchedulerObservation) {
    if (!deployment)
      return fail(
        `a Deployment named ${SCHEDULER}`,
        'no such Deployment',
        `is 30-scheduler-deployment.yaml applied? ${kubectl(`get deployment ${SCHEDULER}`)}`,
      )
    if (deployment.replicas < SCHEDULER_REPLICAS)
      return fail(
        `replicas: ${SCHEDULER_REPLICAS}`,
        `replicas: ${deployment.replicas}`,
        'with one replica, nothing is scheduled while it restarts; run two, one leading and one ready to take the Lease',
      )
    if (deployment.ready < SCHEDULER_REPLICAS)
      return fail(
        `${SCHEDULER_REPLICAS} Ready scheduler pods`,
        `${deployment.ready} Ready`,
        `a replica is Ready once it has listed pods, nodes and PodGroups and knows a leader: ${kubectl(`logs deploy/${SCHEDULER}`)}; ` +
          '"forbidden" names a right its ClusterRole lacks, a 404 on podgroups a missing CRD',
      )
    if (!holder)
      return fail(
        `the Lease ${LEASE} held by a replica`,
        'no holder',
        `the replicas elect their leader on it with get and update (Role ${SCHEDULER}); ${kubectl(`get lease ${LEASE} -o yaml`)}`,
      )
    return pass
  },
})

// ---------- least privilege ----------

/** One question put to the authorizer, for one of several accounts; `namespace` '*' asks cluster-wide (every namespace, or a cluster-scoped resource). */
export interface Access extends AccessWithoutAccount {
  account: string
}

const core = (resource: string, subresource?: string) => ({
  group: '',
  resource,
  ...(subresource ? { subresource } : {}),
})
const podGroups = { group: POD_GROUPS.group, resource: POD_GROUPS.plural }
const slices = { group: 'resource.k8s.io', resource: 'resourceslices' }
const leases = { group: 'coordination.k8s.io', resource: 'leases' }
const each = (account: string, verbs: string[], what: Omit<Access, 'account' | 'verb'>): Access[] =>
  verbs.map((verb) => ({ account, verb, ...what }))

export const mayDo: readonly Access[] = [
  ...each(SCHEDULER, ['get', 'list', 'watch'], { ...core('pods'), namespace: ALL }),
  ...each(SCHEDULER, ['create'], { ...core('pods', 'binding'), namespace: ALL }),
  ...each(SCHEDULER, ['patch'], { ...core('pods', 'status'), namespace: ALL }),
  ...each(SCHEDULER, ['get', 'list', 'watch'], { ...core('nodes'), namespace: ALL }),
  ...each(SCHEDULER, ['create'], { ...core('events'), namespace: ALL }),
  ...each(SCHEDULER, ['list', 'watch'], { ...podGroups, namespace: ALL }),
  ...each(SCHEDULER, ['patch'], { ...podGroups, subresource: 'status', namespace: ALL }),
  ...each(SCHEDULER, ['list', 'watch'], { ...slices, namespace: ALL }),
  ...each(SCHEDULER, ['get', 'update'], { ...leases, name: LEASE }),
  ...each(INVENTORY, ['get', 'list', 'watch'], { ...core('nodes'), namespace: ALL }),
  ...each(INVENTORY, ['list', 'watch'], { ...core('pods'), namespace: ALL }),
  ...each(INVENTORY, ['get', 'create', 'update'], { ...slices, namespace: ALL }),
  ...each(FRONTEND, ['get', 'list', 'watch'], { group: 'discovery.k8s.io', resource: 'endpointslices' }),
]

export const mayNotDo: readonly Access[] = [
  { account: SCHEDULER, verb: 'patch', ...core('pods'), namespace: ALL },
  { account: SCHEDULER, verb: 'delete', ...core('pods'), namespace: ALL },
  { account: SCHEDULER, verb: 'create', ...core('pods'), namespace: ALL },
  { account: SCHEDULER, verb: 'patch', ...core('nodes'), namespace: ALL },
  { account: SCHEDULER, verb: 'get', ...core('secrets'), namespace: ALL },
  { account: SCHEDULER, verb: 'update', ...podGroups, namespace: ALL },
  { account: SCHEDULER, verb: 'create', ...leases },
  { account: SCHEDULER, verb: 'update', ...leases, name: 'another-lease' },
  { account: SCHEDULER, verb: 'update', ...slices, namespace: ALL },
  { account: INVENTORY, verb: 'create', ...core('pods', 'binding'), namespace: ALL },
  { account: INVENTORY, verb: 'delete', ...slices, namespace: ALL },
  { account: INVENTORY, verb: 'get', ...core('secrets'), namespace: ALL },
  { account: FRONTEND, verb: 'list', ...core('pods') },
  { account: FRONTEND, verb: 'get', ...core('secrets'), name: 'model-group' },
  { account: FRONTEND, verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices', namespace: 'kube-system' },
]

export const describeAccess = (access: Access) => `${access.account}: ${describeWithoutAccount(access)}`

export interface AccessObservation {
  answers: Answered<Access>[]
}

/** Why a refused access matters, for the hint. */
function whyNeeded(access: Access): string {
  if (access.subresource === 'binding')
    return 'without create on pods/binding the scheduler cannot bind: every model pod stays Pending. '
  if (access.resource === 'leases')
    return `without ${access.verb} on the Lease ${LEASE} no replica leads, so none binds. `
  if (access.resource === 'podgroups') return 'the scheduler reads the gangs (minMember) and writes their phase. '
  if (access.account === FRONTEND) return "the frontend learns the groups' leaders from the EndpointSlices. "
  return ''
}

export const leastPrivilege = check({
  id: 'least-privilege',
  title: 'the scheduler, the inventory agents and the frontend may do what they need and nothing more',
  needs: 'api',
  // What is declared: there from the apply on, nothing to wait for.
  timeoutMs: 10_000,
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
      const role =
        first.account === FRONTEND || first.resource === 'leases'
          ? `the Role ${first.account} in ${NAMESPACE} (and its RoleBinding)`
          : `the ClusterRole serving-lab-${first.account} (and its ClusterRoleBinding to ${NAMESPACE}/${first.account})`
      return fail(
        `allowed: ${list(mayDo.map(describeAccess))}`,
        `refused: ${list(refused.map(describeAccess))}`,
        `${whyNeeded(first)}${role} must grant it: kubectl describe clusterrole serving-lab-${first.account}; ` +
          kubectl(`describe role,rolebinding ${first.account}`),
      )
    }
    if (granted.length > 0)
      return fail(
        `refused: ${list(mayNotDo.map(describeAccess))}`,
        `allowed: ${list(listGranted(granted, describeAccess))}`,
        'a scheduler needs pods/binding and pods/status, never pods itself (patch or delete would let it rewrite or kill any pod); ' +
          'a wildcard ("*"), a binding to a broad ClusterRole (edit, admin) or a rule without resourceNames grants more; the reason in brackets names the rule',
      )
    return pass
  },
})

// ---------- the gangs as declared ----------

export interface GangDeclaration {
  set: string
  replicas: number
  podManagementPolicy: string
  schedulerName: string
  /** The template's pod-group label. */
  podGroup?: string
  /** That PodGroup's minMember, or null when it does not exist. */
  minMember: number | null
}

export const gangsDeclared = check({
  id: 'gangs-declared',
  title: 'each group is a gang: its pods name a PodGroup whose minMember is the number of ranks',
  needs: 'api',
  // What is declared: there from the apply on, nothing to wait for.
  timeoutMs: 10_000,
  async observe(env): Promise<(GangDeclaration | { set: string; missing: true })[]> {
    const custom = env.kube.config.makeApiClient(CustomObjectsApi)
    return Promise.all(
      GROUPS.map(async (name) => {
        const set = await orNull(env.kube.apps.readNamespacedStatefulSet({ name, namespace: env.namespace }))
        if (!set) return { set: name, missing: true as const }
        const podGroup = set.spec?.template.metadata?.labels?.[POD_GROUP_LABEL]
        const group = podGroup
          ? ((await orNull(
              custom.getNamespacedCustomObject({ ...POD_GROUPS, namespace: env.namespace, name: podGroup }),
            )) as { spec?: { minMember?: number } } | null)
          : null
        return {
          set: name,
          replicas: set.spec?.replicas ?? 1,
          podManagementPolicy: set.spec?.podManagementPolicy ?? 'OrderedReady',
          schedulerName: set.spec?.template.spec?.schedulerName ?? 'default-scheduler',
          ...(podGroup ? { podGroup } : {}),
          minMember: group ? (group.spec?.minMember ?? 1) : null,
        }
      }),
    )
  },
  evaluate(groups: (GangDeclaration | { set: string; missing: true })[]) {
    for (const group of groups) {
      if ('missing' in group)
        return fail(`a StatefulSet named ${group.set}`, 'no such StatefulSet', `is 5x-group-${group.set}.yaml applied?`)
      if (group.schedulerName !== SCHEDULER_NAME)
        return fail(
          `${group.set}: schedulerName ${SCHEDULER_NAME}`,
          `schedulerName ${group.schedulerName}`,
          `a pod is placed by the scheduler its spec.schedulerName names; ${group.schedulerName} places pods one by one, ` +
            'with no gang and no NVLink topology (a half-bound group holds GPUs and serves nothing)',
        )
      if (!group.podGroup)
        return fail(
          `${group.set}: pods labelled ${POD_GROUP_LABEL}`,
          'no such label',
          'without the label each pod is a gang of its own and may be bound without its peers',
        )
      if (group.minMember === null)
        return fail(
          `the PodGroup ${group.podGroup}`,
          'no such PodGroup',
          `a pod whose PodGroup does not exist waits, as under coscheduling: is 50-pod-groups.yaml applied? ${kubectl('get podgroups')}`,
        )
      if (group.minMember !== group.replicas)
        return fail(
          `${group.set}: minMember ${group.replicas} (its ranks)`,
          `minMember ${group.minMember}`,
          group.minMember > group.replicas
            ? `the gang waits until ${group.minMember} pods exist and only ${group.replicas} ever will: it is never bound. minMember is the group's ranks`
            : `with minMember below the ranks, the scheduler may bind ${group.minMember} of ${group.replicas} ranks: half a model holding GPUs`,
        )
      if (group.podManagementPolicy !== 'Parallel')
        return fail(
          `${group.set}: podManagementPolicy Parallel`,
          group.podManagementPolicy,
          'OrderedReady creates rank 1 only once rank 0 is Ready, and the gang binds rank 0 only once rank 1 exists: a deadlock',
        )
    }
    return pass
  },
})

// ---------- bound by the lab scheduler ----------

export interface PodPlacement {
  pod: string
  schedulerName: string
  node?: string
  gpus: number
  /** Who recorded its latest Scheduled Event. */
  scheduledBy?: string
  /** Its latest FailedScheduling message, if any. */
  failure?: string
}

async function observeGroups(env: CheckEnv): Promise<Record<string, PodPlacement[]>> {
  const [scheduled, failed] = await Promise.all([latestEvents(env, 'Scheduled'), latestEvents(env, 'FailedScheduling')])
  const byGroup: Record<string, PodPlacement[]> = {}
  for (const group of GROUPS) {
    byGroup[group] = (await podsOf(env, group))
      .map((pod): PodPlacement => {
        const name = nameOf(pod)
        const bound = scheduled.get(name)
        const failure = failed.get(name)
        return {
          pod: name,
          schedulerName: pod.spec?.schedulerName ?? 'default-scheduler',
          ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
          gpus: gpusOf(pod),
          ...(bound ? { scheduledBy: reporterOf(bound) } : {}),
          ...(failure && !pod.spec?.nodeName ? { failure: failure.message ?? '' } : {}),
        }
      })
      .sort((a, b) => a.pod.localeCompare(b.pod))
  }
  return byGroup
}

/** The hint for a pod the lab scheduler did not bind, from what its Event says. */
function unboundHint(pod: PodPlacement): string {
  const failure = pod.failure
  if (!failure)
    return `no FailedScheduling Event either: is a scheduler replica leading, and may it bind (pods/binding)? ${kubectl(`logs deploy/${SCHEDULER}`)}`
  if (/MiB/.test(failure))
    return `the scheduler says: ${failure}. The ${GPU_MEMORY_ANNOTATION} annotation asks more memory per GPU than the GPUs have (nvidia.com/gpu.memory: 81559 on an H100 80GB): shard the model over more GPUs or fix the figure`
  if (/waiting for members/.test(failure))
    return `the scheduler says: ${failure}. The PodGroup's minMember must be the group's ranks`
  return `the scheduler says: ${failure}`
}

export const labSchedulerBinds = check({
  id: 'lab-scheduler-binds',
  title: `every model-server pod is bound by ${SCHEDULER_NAME} (its Scheduled Event says so)`,
  needs: 'api',
  timeoutMs: 45_000,
  observe: observeGroups,
  evaluate(groups: Record<string, PodPlacement[]>) {
    for (const group of GROUPS) {
      const pods = groups[group] ?? []
      if (pods.length < RANKS)
        return fail(`${RANKS} pods of ${group}`, list(pods.map((p) => p.pod)), kubectl(`describe statefulset ${group}`))
      for (const pod of pods) {
        if (pod.node && pod.scheduledBy === SCHEDULER_NAME) continue
        if (pod.node)
          return fail(
            `${pod.pod} bound by ${SCHEDULER_NAME}`,
            `bound to ${pod.node} by ${pod.scheduledBy ?? 'an unknown scheduler (no Scheduled Event)'}; schedulerName ${pod.schedulerName}`,
            pod.schedulerName !== SCHEDULER_NAME
              ? `spec.schedulerName must be ${SCHEDULER_NAME}: ${pod.schedulerName} binds pods one by one, without gangs or topology`
              : kubectl(`get events --field-selector involvedObject.name=${pod.pod}`),
          )
        return fail(
          `${pod.pod} bound by ${SCHEDULER_NAME}`,
          `Pending${pod.failure ? `: ${pod.failure}` : ''}`,
          unboundHint(pod),
        )
      }
    }
    return pass
  },
})

// ---------- placed by the topology rules ----------

export interface TopologyObservation {
  groups: Record<string, PodPlacement[]>
  /** Node → its NVLink domain, rack and GPUs. */
  nodes: Record<string, { domain: string; rack: string; gpus: number }>
}

const domainOf = (node: V1Node) =>
  node.metadata?.labels?.[LABELS.nvlinkDomain] ?? `node:${node.metadata?.name ?? 'unknown'}`

export const topologyPlacement = check({
  id: 'topology-placement',
  title: 'each group is packed into one NVLink domain when one can hold it, else into one rack',
  needs: 'api',
  async observe(env): Promise<TopologyObservation> {
    const groups = await observeGroups(env)
    const nodes: TopologyObservation['nodes'] = {}
    for (const node of (await env.kube.core.listNode()).items)
      nodes[node.metadata!.name!] = {
        domain: domainOf(node),
        rack: node.metadata?.labels?.[LABELS.rack] ?? 'none',
        gpus: Number(node.status?.allocatable?.[GPU_RESOURCE] ?? 0),
      }
    return { groups, nodes }
  },
  evaluate({ groups, nodes }: TopologyObservation) {
    const domainGpus = new Map<string, number>()
    for (const node of Object.values(nodes)) domainGpus.set(node.domain, (domainGpus.get(node.domain) ?? 0) + node.gpus)
    const largestDomain = Math.max(0, ...domainGpus.values())
    for (const group of GROUPS) {
      const pods = groups[group] ?? []
      const unbound = pods.filter((p) => !p.node || !nodes[p.node])
      if (pods.length === 0 || unbound.length > 0)
        return fail(
          `${group} bound`,
          `unbound: ${list(unbound.map((p) => p.pod))}`,
          'see the check lab-scheduler-binds',
        )
      const where = pods.map((p) => `${p.pod} on ${p.node} (${nodes[p.node!]!.domain}, rack ${nodes[p.node!]!.rack})`)
      const need = pods.reduce((sum, p) => sum + p.gpus, 0)
      const domains = new Set(pods.map((p) => nodes[p.node!]!.domain))
      const racks = new Set(pods.map((p) => nodes[p.node!]!.rack))
      if (need <= largestDomain && domains.size > 1)
        return fail(
          `${group}'s ${need} GPUs inside one NVLink domain (one holds ${largestDomain})`,
          list(where),
          'the ranks talk over the network instead of NVLink: were they bound by kube-scheduler (schedulerName), ' +
            'or did another group take half of each node? The lab scheduler packs best fit, the fullest domain that holds the group',
        )
      if (racks.size > 1)
        return fail(`${group} inside one rack`, list(where), 'a group that spans nodes must stay inside one rack')
    }
    return pass
  },
})

// ---------- the gang that cannot fit ----------

export interface UnfitPod {
  pod: string
  exists: boolean
  node?: string
  /** PodScheduled condition: status and reason. */
  condition?: { status: string; reason?: string; message?: string }
  failure?: { by: string; message: string }
}

export const unfitGangPending = check({
  id: 'unfit-gang-pending',
  title: `the gang ${UNFIT}, whose memory no GPU holds, stays wholly pending with a FailedScheduling Event`,
  needs: 'api',
  timeoutMs: 30_000,
  async observe(env): Promise<UnfitPod[]> {
    const failed = await latestEvents(env, 'FailedScheduling')
    return Promise.all(
      UNFIT_PODS.map(async (name): Promise<UnfitPod> => {
        const pod = await orNull(env.kube.core.readNamespacedPod({ name, namespace: env.namespace }))
        if (!pod) return { pod: name, exists: false }
        const condition = pod.status?.conditions?.find((c) => c.type === 'PodScheduled')
        const event = failed.get(name)
        return {
          pod: name,
          exists: true,
          ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
          ...(condition
            ? {
                condition: {
                  status: condition.status,
                  ...(condition.reason ? { reason: condition.reason } : {}),
                  ...(condition.message ? { message: condition.message } : {}),
                },
              }
            : {}),
          ...(event ? { failure: { by: reporterOf(event), message: event.message ?? '' } } : {}),
        }
      }),
    )
  },
  evaluate(pods: UnfitPod[]) {
    const missing = pods.filter((p) => !p.exists)
    if (missing.length > 0)
      return fail(
        `pods ${list(UNFIT_PODS)}`,
        `missing: ${list(missing.map((p) => p.pod))}`,
        'is 60-unfit-gang.yaml applied?',
      )
    const bound = pods.filter((p) => p.node)
    if (bound.length > 0)
      return fail(
        `no pod of ${UNFIT} bound`,
        `bound: ${list(bound.map((p) => `${p.pod} on ${p.node}`))}`,
        bound.length < pods.length
          ? 'part of a gang was bound: it holds GPUs and serves nothing, the failure gangs exist to prevent'
          : `its memory need (${GPU_MEMORY_ANNOTATION}) is more than any GPU holds: a scheduler that ignores it (schedulerName?) binds it anyway`,
      )
    for (const pod of pods) {
      if (!pod.failure || pod.failure.by !== SCHEDULER_NAME)
        return fail(
          `a FailedScheduling Event from ${SCHEDULER_NAME} on ${pod.pod}`,
          pod.failure ? `from ${pod.failure.by}: ${pod.failure.message}` : 'none',
          `the lab scheduler records why it cannot place a gang: is a replica leading? ${kubectl(`logs deploy/${SCHEDULER}`)}`,
        )
      if (pod.condition?.status !== 'False' || pod.condition.reason !== 'Unschedulable')
        return fail(
          `${pod.pod}: PodScheduled=False, reason Unschedulable`,
          pod.condition
            ? `PodScheduled=${pod.condition.status} (${pod.condition.reason ?? 'no reason'})`
            : 'no PodScheduled condition',
          'the scheduler patches pods/status so kubectl get pod says why: may it (ClusterRole, pods/status patch)?',
        )
    }
    return pass
  },
})

// ---------- priority classes ----------

export interface PriorityObservation {
  pods: { pod: string; className?: string; priority?: number }[]
  /** PriorityClass name → value, for the classes the pods name. */
  classes: Record<string, number>
}

export const priorityClasses = check({
  id: 'priority-classes',
  title: 'every model-server pod names a PriorityClass that exists, and carries its value',
  needs: 'api',
  // What is declared: there from the apply on, nothing to wait for.
  timeoutMs: 10_000,
  async observe(env): Promise<PriorityObservation> {
    const podList = await env.kube.core.listNamespacedPod({
      namespace: env.namespace,
      labelSelector: 'app.kubernetes.io/component in (model-server, model-server-unfit)',
    })
    const pods = podList.items.map((pod) => ({
      pod: nameOf(pod),
      ...(pod.spec?.priorityClassName ? { className: pod.spec.priorityClassName } : {}),
      ...(pod.spec?.priority !== undefined ? { priority: pod.spec.priority } : {}),
    }))
    const api = env.kube.config.makeApiClient(SchedulingV1Api)
    const classes: Record<string, number> = {}
    for (const name of new Set(pods.flatMap((p) => (p.className ? [p.className] : [])))) {
      const found = await orNull(api.readPriorityClass({ name }))
      if (found) classes[name] = found.value
    }
    return { pods: pods.sort((a, b) => a.pod.localeCompare(b.pod)), classes }
  },
  evaluate({ pods, classes }: PriorityObservation) {
    if (pods.length === 0) return fail('model-server pods', 'none', kubectl('get pods'))
    const without = pods.filter((p) => !p.className)
    if (without.length > 0)
      return fail(
        `a priorityClassName on ${list(without.map((p) => p.pod))}`,
        'none: priority 0, like any pod',
        'name serving-lab-interactive or serving-lab-batch (05-priority-classes.yaml): without it a serving group ranks with ' +
          "every batch pod in the scheduler's queue and is evicted as readily under node pressure",
      )
    const unknown = pods.filter((p) => p.className && !(p.className in classes))
    if (unknown.length > 0)
      return fail(
        `PriorityClass ${unknown[0]!.className}`,
        'no such PriorityClass',
        'a pod naming a missing class is refused at creation: is 05-priority-classes.yaml applied? kubectl get priorityclasses',
      )
    const stale = pods.filter((p) => p.priority !== classes[p.className!])
    if (stale.length > 0)
      return fail(
        `spec.priority from the class`,
        list(stale.map((p) => `${p.pod}: ${p.priority ?? 'unset'}`)),
        'the admission plugin writes spec.priority at creation: delete the pods so they are created again',
      )
    return pass
  },
})

// ---------- the frontend and its backends ----------

export interface FrontendObservation {
  deployment: { replicas: number; ready: number; service?: string; policy?: string } | null
  /** The Service the frontend reads: its selector, and the pods it selects. */
  service: { name: string; exists: boolean; selects: string[] } | null
  /** Rank 0 of each group, the pods that serve the API. */
  leaders: string[]
}

export const frontendBackends = check({
  id: 'frontend-backends',
  title: `${FRONTEND_REPLICAS} frontends are ready, routing with --policy kv to rank 0 of every group and nothing else`,
  needs: 'api',
  async observe(env): Promise<FrontendObservation> {
    const deployment = await orNull(
      env.kube.apps.readNamespacedDeployment({ name: FRONTEND, namespace: env.namespace }),
    )
    const leaders: string[] = []
    for (const group of GROUPS)
      for (const pod of await podsOf(env, group))
        if (pod.metadata?.labels?.[POD_INDEX] === '0') leaders.push(nameOf(pod))
    if (!deployment) return { deployment: null, service: null, leaders }
    const args = deployment.spec?.template.spec?.containers[0]?.args ?? []
    const serviceName = flag(args, '--service')
    const policy = flag(args, '--policy')
    let service: FrontendObservation['service'] = null
    if (serviceName) {
      const found = await orNull(env.kube.core.readNamespacedService({ name: serviceName, namespace: env.namespace }))
      const selector = found?.spec?.selector
      const selects = selector
        ? (
            await env.kube.core.listNamespacedPod({
              namespace: env.namespace,
              labelSelector: Object.entries(selector)
                .map(([k, v]) => `${k}=${v}`)
                .join(','),
            })
          ).items.map(nameOf)
        : []
      service = { name: serviceName, exists: found !== null, selects: selects.sort() }
    }
    return {
      deployment: {
        replicas: deployment.spec?.replicas ?? 1,
        ready: deployment.status?.readyReplicas ?? 0,
        ...(serviceName ? { service: serviceName } : {}),
        ...(policy ? { policy } : {}),
      },
      service,
      leaders: leaders.sort(),
    }
  },
  evaluate({ deployment, service, leaders }: FrontendObservation) {
    if (!deployment) return fail(`a Deployment named ${FRONTEND}`, 'no such Deployment', 'is 75-frontend.yaml applied?')
    if ((deployment.policy ?? 'kv') !== 'kv')
      return fail(
        '--policy kv',
        `--policy ${deployment.policy}`,
        "only kv routes on the servers' KV caches (Dynamo's cost: prefix overlap against load)",
      )
    if (!service)
      return fail(
        '--service naming the leaders’ Service',
        'no --service',
        `the frontend finds its backends through ${LEADERS}`,
      )
    if (!service.exists)
      return fail(
        `the Service ${service.name}`,
        'no such Service',
        `--service must name an existing Service: ${LEADERS}`,
      )
    const extra = service.selects.filter((p) => !leaders.includes(p))
    const lacking = leaders.filter((p) => !service.selects.includes(p))
    if (extra.length > 0 || lacking.length > 0)
      return fail(
        `--service selecting exactly ${list(leaders)}`,
        `${service.name} selects ${list(service.selects)}`,
        `${extra.length > 0 ? `${list(extra)} serve no API (only rank 0 does, with its whole group behind it)` : `${list(lacking)} would get no requests`}: ` +
          `point --service at ${LEADERS}, whose selector is rank 0 (${POD_INDEX}: "0") of the model servers`,
      )
    if (deployment.ready < FRONTEND_REPLICAS)
      return fail(
        `${FRONTEND_REPLICAS} Ready frontends`,
        `${deployment.ready} Ready`,
        `a frontend is Ready while a model server is in service: ${kubectl(`logs deploy/${FRONTEND}`)}`,
      )
    return pass
  },
})

// ---------- pods: traffic through a frontend ----------

async function aFrontend(env: CheckEnv): Promise<string | undefined> {
  const ready = (await podsOf(env, FRONTEND)).filter(isReady).map(nameOf).sort()
  return ready[0]
}

export interface BackendsObservation {
  frontend?: string
  backends: { address: string; healthy: boolean; kvEvents: boolean | null }[]
  error?: string
}

export const frontendInService = check({
  id: 'frontend-in-service',
  title: 'a frontend has both groups in service and follows their KV events',
  needs: 'pods',
  timeoutMs: 30_000,
  async observe(env): Promise<BackendsObservation> {
    const frontend = await aFrontend(env)
    if (!frontend) return { backends: [], error: 'no Ready frontend pod' }
    const answer = await proxyAnswer(podProxyGet(env.kube, env.namespace, `${frontend}:${FRONTEND_PORT}`, '/backends'))
    if (answer.status !== 200)
      return { frontend, backends: [], error: `GET /backends: ${answer.status} ${answer.body.slice(0, 120)}` }
    const backends = (JSON.parse(answer.body) as BackendsObservation['backends']).map((b) => ({
      address: b.address,
      healthy: b.healthy,
      kvEvents: b.kvEvents,
    }))
    return { frontend, backends }
  },
  evaluate({ frontend, backends, error }: BackendsObservation) {
    if (error) return fail('GET /backends answered', error, kubectl(`logs deploy/${FRONTEND}`))
    const good = backends.filter((b) => b.healthy && b.kvEvents === true)
    if (good.length < GROUPS.length)
      return fail(
        `${GROUPS.length} backends healthy with their KV event stream connected`,
        list(backends.map((b) => `${b.address} ${b.healthy ? 'healthy' : 'unhealthy'}, kv events ${b.kvEvents}`)),
        `the frontend reads GET /kv-events from each leader: ${kubectl(`logs ${frontend ?? `deploy/${FRONTEND}`}`)}`,
      )
    return pass
  },
})

interface Sent {
  status: number
  ms: number
  backend?: string
  code?: string
}

async function send(
  env: CheckEnv,
  frontend: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Sent> {
  const started = performance.now()
  const answer: ProxyResponse = await proxyPost(
    env.kube,
    env.namespace,
    { pod: `${frontend}:${FRONTEND_PORT}` },
    '/v1/completions',
    { model: MODEL, ...body },
    headers,
  )
  let code: string | undefined
  try {
    code = (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code ?? undefined
  } catch {
    code = undefined
  }
  return {
    status: answer.status,
    ms: performance.now() - started,
    ...(answer.headers[BACKEND_HEADER] ? { backend: answer.headers[BACKEND_HEADER] } : {}),
    ...(code ? { code } : {}),
  }
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)

export interface PriorityLoadObservation {
  error?: string
  /** Milliseconds per answer, by priority, of the requests answered 200. */
  urgent: number[]
  relaxed: number[]
  failed: string[]
}

/** Sequences the two groups run at once (2 × --max-num-seqs 4): as many blockers fill them. */
const RUNNING = 8
/** Requests per priority, all of which wait in the frontend's queue behind the blockers. */
const PER_PRIORITY = 8
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const priorityWaitsLess = check({
  id: 'priority-waits-less',
  title: 'under load, priority 0 waits less than priority 3',
  needs: 'pods',
  timeoutMs: 60_000,
  async observe(env): Promise<PriorityLoadObservation> {
    const frontend = await aFrontend(env)
    if (!frontend) return { error: 'no Ready frontend pod', urgent: [], relaxed: [], failed: [] }
    const body = (i: number, priority: number, maxTokens = 16) => ({
      prompt: `Priority ${priority}, request ${i}.`,
      max_tokens: maxTokens,
      priority,
    })
    // Fill every running slot first, so that what comes next waits in the queue; then the less
    // urgent before the urgent, so that only the queue's order can let the urgent ones through sooner.
    const blockers = Array.from({ length: RUNNING }, (_, i) => send(env, frontend, body(i, 1, 48)))
    await pause(150)
    const relaxed = Array.from({ length: PER_PRIORITY }, (_, i) => send(env, frontend, body(i, 3)))
    await pause(50)
    const urgent = Array.from({ length: PER_PRIORITY }, (_, i) => send(env, frontend, body(i, 0)))
    await Promise.all(blockers)
    const [u, r] = await Promise.all([Promise.all(urgent), Promise.all(relaxed)])
    const failed = [...u, ...r].filter((s) => s.status !== 200).map((s) => `${s.status} ${s.code ?? ''}`.trim())
    return {
      urgent: u.filter((s) => s.status === 200).map((s) => s.ms),
      relaxed: r.filter((s) => s.status === 200).map((s) => s.ms),
      failed,
    }
  },
  evaluate({ error, urgent, relaxed, failed }: PriorityLoadObservation) {
    if (error) return fail('a Ready frontend', error, 'see the check frontend-backends')
    if (failed.length > 0)
      return fail(
        `all ${2 * PER_PRIORITY} requests answered 200`,
        `${failed.length} not: ${list(failed.slice(0, 5))}`,
        `a 400 naming priority means a model server runs --scheduling-policy fcfs; ${kubectl(`logs deploy/${FRONTEND}`)}`,
      )
    const [u, r] = [mean(urgent), mean(relaxed)]
    if (u >= r)
      return fail(
        'priority 0 answered sooner on average than priority 3',
        `priority 0: ${u.toFixed(0)} ms, priority 3: ${r.toFixed(0)} ms`,
        'the frontend releases its queue by priority while the servers are saturated: is --queue-threshold so high that nothing waits there?',
      )
    return pass
  },
})

export interface LimitsObservation {
  error?: string
  expired?: Sent
  overflow: Sent[]
}

/** Sent at once at one priority: more than the servers run (8) plus what one class may queue (16). */
const BURST = 40

export const deadlineAndOverflow = check({
  id: 'deadline-and-overflow',
  title: 'an expired request gets 504 and overflow of a priority class gets 429',
  needs: 'pods',
  timeoutMs: 60_000,
  async observe(env): Promise<LimitsObservation> {
    const frontend = await aFrontend(env)
    if (!frontend) return { error: 'no Ready frontend pod', overflow: [] }
    const expired = await send(
      env,
      frontend,
      { prompt: 'No time for this.', max_tokens: 16 },
      { [deadlineHeader]: '1' },
    )
    const overflow = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        send(env, frontend, { prompt: `Burst ${i}.`, max_tokens: 32, priority: 2 }),
      ),
    )
    return { expired, overflow }
  },
  evaluate({ error, expired, overflow }: LimitsObservation) {
    if (error || !expired) return fail('a Ready frontend', error ?? 'none', 'see the check frontend-backends')
    if (expired.status !== 504 || expired.code !== 'deadline_exceeded')
      return fail(
        `504 deadline_exceeded for ${deadlineHeader}: 1`,
        `${expired.status} ${expired.code ?? ''}`,
        'the deadline covers the wait and the answer; a frontend that ignores it lets a client wait for an answer it has given up on',
      )
    const refused = overflow.filter((s) => s.status === 429)
    const served = overflow.filter((s) => s.status === 200)
    if (refused.length === 0 || served.length === 0)
      return fail(
        `some of ${BURST} requests at once answered 200 and the rest 429 queue_full`,
        `${served.length} × 200, ${refused.length} × 429, others: ${list(overflow.filter((s) => s.status !== 200 && s.status !== 429).map((s) => String(s.status)))}`,
        '--max-queued-per-class bounds what waits in one class; without a bound a burst waits until its deadline',
      )
    return pass
  },
})

export interface PrefixObservation {
  error?: string
  /** For each shared-prefix probe: the backend of the first request and of the follow-up. */
  probes: { first?: string; second?: string; status: number[] }[]
}

/** A prompt of several KV blocks (16 tokens each), different per probe and per run. */
const longPrompt = (seed: string) =>
  Array.from({ length: 80 }, (_, i) => `${seed}-${i}`).join(' ') + ' Summarise the document above.'

export const prefixRouted = check({
  id: 'prefix-routed',
  title: 'a request that shares a prefix goes to the server that holds it',
  needs: 'pods',
  timeoutMs: 45_000,
  async observe(env): Promise<PrefixObservation> {
    const frontend = await aFrontend(env)
    if (!frontend) return { error: 'no Ready frontend pod', probes: [] }
    const probes: PrefixObservation['probes'] = []
    const run = Date.now().toString(36)
    for (let i = 0; i < 3; i++) {
      const prompt = longPrompt(`${run}-${i}`)
      const first = await send(env, frontend, { prompt, max_tokens: 4 })
      const second = await send(env, frontend, { prompt: `${prompt} And list its key points.`, max_tokens: 4 })
      probes.push({
        ...(first.backend ? { first: first.backend } : {}),
        ...(second.backend ? { second: second.backend } : {}),
        status: [first.status, second.status],
      })
    }
    return { probes }
  },
  evaluate({ error, probes }: PrefixObservation) {
    if (error) return fail('a Ready frontend', error, 'see the check frontend-backends')
    const strayed = probes.filter((p) => p.status.some((s) => s !== 200) || !p.first || p.first !== p.second)
    if (strayed.length > 0)
      return fail(
        `each follow-up sent where its prefix was (${BACKEND_HEADER})`,
        list(strayed.map((p) => `${p.first ?? '?'} then ${p.second ?? '?'} (${p.status.join(', ')})`)),
        'with --policy kv the frontend counts the blocks each server holds (its KV events, and what it sent there) and prefers the one that skips most prefill; round-robin or least-outstanding ignore it',
      )
    return pass
  },
})

export const checks: Check[] = [
  schedulerLeads,
  leastPrivilege,
  gangsDeclared,
  labSchedulerBinds,
  topologyPlacement,
  unfitGangPending,
  priorityClasses,
  frontendBackends,
  frontendInService,
  priorityWaitsLess,
  deadlineAndOverflow,
  prefixRouted,
]

if (isMain(import.meta.url)) await runStandalone(import.meta.url, checks)
