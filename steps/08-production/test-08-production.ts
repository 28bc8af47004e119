#!/usr/bin/env -S npx tsx
// Step 08 verification: the serving stack of step 07 hardened and watched. The API server
// enforces Pod Security "restricted"; the NetworkPolicies let exactly the intended connections
// through and leave DNS open; Prometheus's configuration finds every workload's pods and carries
// the alert rules CI tests; each PodDisruptionBudget lets a node drain evict a pod; a quota caps
// the GPUs and holds the step at its largest, with defaults and a priority; Prometheus may read
// pods here and nothing more. Where containers run: Prometheus scrapes every target, and a
// model server answers the frontend but not a throw-away pod that no policy admits. Then a drill:
// the node under llama-0 is lost (kind: its machine frozen and tainted out of service; kwok: its
// Node deleted), llama-0 must be Ready on another node and the frontend answer; the node comes back.
// Runs alone (`npx tsx steps/08-production/test-08-production.ts [--context NAME] [--json]`)
// and is what `npm run step 08` runs after applying the step.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  AutoscalingV2Api,
  NetworkingV1Api,
  PolicyV1Api,
  SchedulingV1Api,
  type KubernetesObject,
  type V1Pod,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node'
import { parse } from 'yaml'
import { check, fail, pass, passWith, type Check, type CheckEnv } from '../../scripts/lib/checks/check.ts'
import {
  ALL_NAMESPACES as ALL,
  askAccess,
  isReady,
  judgeLeastPrivilege,
  kubectl,
  list,
  nameOf,
  orNull,
  podsOf,
  type Access,
  type Answered,
} from '../../scripts/lib/checks/kit.ts'
import { isMain, runStandalone } from '../../scripts/lib/checks/standalone.ts'
import { loseNode, OUT_OF_SERVICE, type LostNode } from '../../scripts/lib/cluster/lose-node.ts'
import { GPU_RESOURCE } from '../../scripts/lib/cluster/topology.ts'
import { CONNECT, describeAttempt, IDLE, probePod, type Attempt } from '../../scripts/lib/cluster/network-checks.ts'
import { IMAGE } from '../../scripts/lib/image.ts'
import { apply, clusterRunsContainers, execInPod, proxyAnswer, proxyPost } from '../../scripts/lib/kube.ts'
import { allows, type NetworkPolicy, type PodEndpoint, type Source } from '../../scripts/lib/network-policy.ts'
import { pollUntil } from '../../scripts/lib/poll.ts'
import { quantityValue } from '../../scripts/lib/quantity.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import { discover, type PodShape } from '../../scripts/lib/prometheus-discovery.ts'

const PROMETHEUS = 'prometheus'
const MODEL_SERVERS = 'llama'
const FRONTEND = 'frontend'
const MODEL = 'meta-llama/Meta-Llama-3-8B-Instruct'
const ADAPTER = 'metrics-adapter'
const CONFIG_KEY = 'prometheus.yml'
const RULES_KEY = 'serving-lab.rules.yml'
/** The rules whose promtool tests CI runs: what the ConfigMap must hold. */
export const TESTED_RULES = 'observability/monitoring/serving-lab.rules.yml'

// ---------- the step's pods, from its workloads' templates ----------

export interface Workload extends KubernetesObject {
  spec?: { replicas?: number; template?: V1PodTemplateSpec }
}

/** A pod of each workload as its template describes it. */
export function podShapesOf(workloads: readonly Workload[]): PodShape[] {
  return workloads
    .filter((w) => w.spec?.template)
    .map((w) => {
      const template = w.spec!.template!
      const spec = template.spec!
      return {
        namespace: w.metadata!.namespace!,
        workload: w.metadata!.name!,
        labels: { ...template.metadata?.labels },
        annotations: { ...template.metadata?.annotations },
        containers: [
          ...(spec.initContainers ?? []).map((c) => ({ name: c.name, init: true, ports: c.ports ?? [] })),
          ...spec.containers.map((c) => ({ name: c.name, ports: c.ports ?? [] })),
        ],
      }
    })
}

async function workloadsOf(env: CheckEnv): Promise<Workload[]> {
  const [deployments, statefulSets] = await Promise.all([
    env.kube.apps.listNamespacedDeployment({ namespace: env.namespace }),
    env.kube.apps.listNamespacedStatefulSet({ namespace: env.namespace }),
  ])
  return [
    ...deployments.items.map((d) => ({ ...d, kind: 'Deployment' })),
    ...statefulSets.items.map((s) => ({ ...s, kind: 'StatefulSet' })),
  ] as Workload[]
}

async function namespaceLabels(env: CheckEnv): Promise<Record<string, string>> {
  const namespace = await orNull(env.kube.core.readNamespace({ name: env.namespace }))
  return { ...namespace?.metadata?.labels }
}

// ---------- Pod Security ----------

export interface PodSecurityObservation {
  labels: Record<string, string>
  /** The API server's refusal of a privileged pod (server-side dry run), or null when it admitted it. */
  privilegedRefusal: string | null
  /** Each workload's pod template as a pod (server-side dry run): the refusals. */
  templatesRefused: string[]
}

const ENFORCE = 'pod-security.kubernetes.io/enforce'

/** The API server's reason for refusing a dry run, without apply's prefix. */
const refusalOf = (error: Error) => error.message.replace(/^server-side apply of [^:]+ was refused: /, '')

export const podSecurityEnforced = check({
  id: 'pod-security-enforced',
  title:
    'the API server enforces Pod Security "restricted" here: a privileged pod is refused, every pod template passes',
  needs: 'api',
  timeoutMs: 20_000,
  async observe(env): Promise<PodSecurityObservation> {
    const refusal = async (pod: KubernetesObject) =>
      apply(env.kube, [pod], { dryRun: true }).then(() => null, refusalOf)
    const privileged = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pod-security-probe', namespace: env.namespace },
      spec: { containers: [{ name: 'probe', image: IMAGE, securityContext: { privileged: true } }] },
    }
    const templatesRefused: string[] = []
    for (const workload of await workloadsOf(env)) {
      const template = workload.spec!.template!
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `pod-security-probe-${workload.metadata!.name}`, namespace: env.namespace },
        spec: template.spec,
      }
      const refused = await refusal(pod as KubernetesObject)
      if (refused) templatesRefused.push(`${workload.kind}/${workload.metadata!.name}: ${refused}`)
    }
    return {
      labels: await namespaceLabels(env),
      privilegedRefusal: await refusal(privileged),
      templatesRefused,
    }
  },
  evaluate({ labels, privilegedRefusal, templatesRefused }: PodSecurityObservation) {
    if (labels[ENFORCE] !== 'restricted')
      return fail(
        `the namespace labelled ${ENFORCE}: restricted`,
        labels[ENFORCE] ? `${ENFORCE}: ${labels[ENFORCE]}` : 'no Pod Security labels',
        `00-namespace.yaml labels the namespace; without ${ENFORCE} the API server admits any pod, privileged ones too. ${kubectl('get namespace <namespace> --show-labels')}`,
      )
    if (privilegedRefusal === null)
      return fail(
        'a privileged pod refused by the API server',
        'admitted (server-side dry run)',
        'the label is there but nothing enforces it: the PodSecurity admission plugin must be enabled in kube-apiserver',
      )
    if (templatesRefused.length > 0)
      return fail(
        'every pod template of the step admitted under "restricted"',
        `refused: ${list(templatesRefused)}`,
        'restricted wants runAsNonRoot, allowPrivilegeEscalation: false, capabilities drop ALL, a RuntimeDefault seccomp profile and no host namespaces, ports or paths; the workload creates no pod until its template passes',
      )
    return pass
  },
})

// ---------- NetworkPolicies ----------

export interface NetworkObservation {
  namespace: string
  namespaceLabels: Record<string, string>
  policies: NetworkPolicy[]
  pods: PodShape[]
}

async function observeNetwork(env: CheckEnv): Promise<NetworkObservation> {
  const networking = env.kube.config.makeApiClient(NetworkingV1Api)
  const [policies, workloads, labels] = await Promise.all([
    networking.listNamespacedNetworkPolicy({ namespace: env.namespace }),
    workloadsOf(env),
    namespaceLabels(env),
  ])
  return {
    namespace: env.namespace,
    namespaceLabels: labels,
    // The wire's field names: the typed model says `_from` for `from`.
    policies: policies.items.map((p) => ({
      metadata: { name: p.metadata?.name, namespace: env.namespace },
      spec: {
        podSelector: p.spec?.podSelector,
        policyTypes: p.spec?.policyTypes,
        ingress: p.spec?.ingress?.map((rule) => ({ from: rule._from, ports: rule.ports })),
        egress: p.spec?.egress?.map((rule) => ({ to: rule.to, ports: rule.ports })),
      },
    })) as NetworkPolicy[],
    pods: podShapesOf(workloads),
  }
}

const endpointOf = (pod: PodShape, namespaceLabels: Record<string, string>): PodEndpoint => ({
  namespace: pod.namespace,
  namespaceLabels,
  labels: pod.labels,
  ports: Object.fromEntries(
    pod.containers.flatMap((c) => c.ports ?? []).flatMap((p) => (p.name ? [[p.name, p.containerPort]] : [])),
  ),
})

/** One connection and whether the step means it to go through. */
export interface Path {
  from: string
  to: string
  port: string
  allowed: boolean
}

/** Sources that are no workload of the step: another pod here, a pod elsewhere, the API server. */
const STRANGER = 'another pod of the namespace'
const ELSEWHERE = 'a pod in another namespace'
const API_SERVER = 'the API server'

/** The connections the policies must allow and refuse: `to` names a workload, `port` one of its ports. */
export const intendedPaths: readonly Path[] = [
  { from: FRONTEND, to: MODEL_SERVERS, port: 'http', allowed: true },
  { from: ADAPTER, to: MODEL_SERVERS, port: 'http', allowed: true },
  { from: PROMETHEUS, to: MODEL_SERVERS, port: 'http', allowed: true },
  { from: STRANGER, to: MODEL_SERVERS, port: 'http', allowed: false },
  { from: ELSEWHERE, to: MODEL_SERVERS, port: 'http', allowed: false },
  { from: API_SERVER, to: MODEL_SERVERS, port: 'http', allowed: false },
  { from: ELSEWHERE, to: FRONTEND, port: 'http', allowed: true },
  { from: API_SERVER, to: FRONTEND, port: 'http', allowed: true },
  { from: PROMETHEUS, to: FRONTEND, port: 'http', allowed: true },
  { from: ELSEWHERE, to: FRONTEND, port: '9999', allowed: false },
  { from: API_SERVER, to: ADAPTER, port: 'https', allowed: true },
  { from: ELSEWHERE, to: PROMETHEUS, port: 'http', allowed: true },
]

const describePath = (p: Path) => `${p.from} → ${p.to}:${p.port}`

/** Whether each intended path is allowed by the observed policies; null for a workload the step lacks. */
export function judgePaths(observation: NetworkObservation): { path: Path; allowed: boolean | null }[] {
  const { namespace, namespaceLabels: labels, policies, pods } = observation
  const endpoint = (name: string) => {
    const pod = pods.find((p) => p.workload === name)
    return pod ? endpointOf(pod, labels) : undefined
  }
  const source = (name: string): Source | undefined => {
    if (name === API_SERVER) return { host: 'control-plane' }
    if (name === STRANGER)
      return { pod: { namespace, namespaceLabels: labels, labels: { 'app.kubernetes.io/name': 'debug' } } }
    if (name === ELSEWHERE)
      return {
        pod: {
          namespace: 'default',
          namespaceLabels: { 'kubernetes.io/metadata.name': 'default' },
          labels: { app: 'client' },
        },
      }
    const pod = endpoint(name)
    return pod ? { pod } : undefined
  }
  return intendedPaths.map((path) => {
    const from = source(path.from)
    const to = endpoint(path.to)
    const port = /^\d+$/.test(path.port) ? Number(path.port) : to?.ports?.[path.port]
    if (!from || !to || port === undefined) return { path, allowed: null }
    return { path, allowed: allows(policies, { from, to, port }) }
  })
}

export const networkPaths = check({
  id: 'network-paths',
  title:
    'the NetworkPolicies let through exactly the intended connections: the model servers from the frontend, the adapter and Prometheus only; the frontend from anywhere',
  needs: 'api',
  timeoutMs: 15_000,
  observe: observeNetwork,
  evaluate(observation: NetworkObservation) {
    if (observation.policies.length === 0)
      return fail(
        'a default deny and a policy per workload',
        'no NetworkPolicy in the namespace',
        `is 60-network-policies.yaml applied? ${kubectl('get networkpolicy')}`,
      )
    const judged = judgePaths(observation)
    const missing = judged.filter((j) => j.allowed === null).map((j) => describePath(j.path))
    if (missing.length > 0)
      return fail(
        'every workload of the step, with its ports',
        `cannot place: ${list(missing)}`,
        'is the step applied?',
      )
    const opened = judged.filter((j) => j.allowed && !j.path.allowed).map((j) => describePath(j.path))
    const closed = judged.filter((j) => !j.allowed && j.path.allowed).map((j) => describePath(j.path))
    if (opened.length > 0)
      return fail(
        `refused: ${list(intendedPaths.filter((p) => !p.allowed).map(describePath))}`,
        `allowed: ${list(opened)}`,
        'the model servers answer only the frontend, the metrics adapter and Prometheus: their policy names those pods by label, ' +
          'and an empty podSelector or namespaceSelector in `from` (or no `from`) lets any pod reach them; ' +
          'without the default deny, a pod no policy selects accepts everything',
      )
    if (closed.length > 0)
      return fail(
        `allowed: ${list(intendedPaths.filter((p) => p.allowed).map(describePath))}`,
        `refused: ${list(closed)}`,
        'once a policy selects a pod for a direction, only what some rule allows goes through: a rule whose port or labels do not match, ' +
          "or an egress policy with no rule for it, cuts the path (a named port is the target container's port name). " +
          "The API server's proxy and aggregator connect from a node's address, which no pod or namespace selector matches: " +
          'a port they reach is opened by port alone',
      )
    return passWith(`${judged.length} paths`)
  },
})

/** CoreDNS as every cluster runs it: kube-system's pods labelled k8s-app=kube-dns, port 53. */
const COREDNS: PodEndpoint = {
  namespace: 'kube-system',
  namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
  labels: { 'k8s-app': 'kube-dns' },
}

/** The workloads whose pods may not reach CoreDNS, each with the protocols cut. */
export function dnsCut(observation: NetworkObservation): string[] {
  return observation.pods.flatMap((pod) => {
    const from = { pod: endpointOf(pod, observation.namespaceLabels) }
    const cut = (['UDP', 'TCP'] as const).filter(
      (protocol) => !allows(observation.policies, { from, to: COREDNS, port: 53, protocol }),
    )
    return cut.length > 0 ? [`${pod.workload} (${cut.join(', ')} 53)`] : []
  })
}

export const dnsOpen = check({
  id: 'dns-open',
  title: "every workload's pods may still reach the cluster DNS (CoreDNS in kube-system, UDP and TCP 53)",
  needs: 'api',
  timeoutMs: 15_000,
  observe: observeNetwork,
  evaluate(observation: NetworkObservation) {
    if (observation.pods.length === 0)
      return fail('the workloads of the step', 'none', `is the step applied? ${kubectl('get deploy,statefulset')}`)
    const cut = dnsCut(observation)
    if (cut.length > 0)
      return fail(
        'DNS open from every pod',
        `cut: ${list(cut)}`,
        'a policy with Egress in policyTypes refuses every connection it does not list: one that restricts egress must allow UDP and TCP 53 ' +
          'to kube-system (namespaceSelector kubernetes.io/metadata.name: kube-system, podSelector k8s-app: kube-dns), or every name lookup times out',
      )
    return pass
  },
})

// ---------- Prometheus's configuration ----------

export interface ConfigObservation {
  /** The ConfigMap's keys, or null when there is no ConfigMap prometheus. */
  data: Record<string, string> | null
  pods: PodShape[]
}

async function observeConfig(env: CheckEnv): Promise<ConfigObservation> {
  const [configMap, workloads] = await Promise.all([
    orNull(env.kube.core.readNamespacedConfigMap({ name: PROMETHEUS, namespace: env.namespace })),
    workloadsOf(env),
  ])
  return { data: configMap ? { ...configMap.data } : null, pods: podShapesOf(workloads) }
}

const noConfigMap = () =>
  fail(
    `the ConfigMap ${PROMETHEUS}`,
    'none',
    `is 75-prometheus-config.yaml applied? ${kubectl(`get configmap ${PROMETHEUS}`)}`,
  )

/** The workloads that serve /metrics on a port named http: the lab's rule, which prometheus.yml relies on. */
const servesMetrics = (pod: PodShape) => pod.containers.some((c) => !c.init && c.ports?.some((p) => p.name === 'http'))

export const prometheusDiscovers = check({
  id: 'prometheus-discovers',
  title: "Prometheus's configuration (its ConfigMap) scrapes every workload's pods on their http port, one target each",
  needs: 'api',
  timeoutMs: 15_000,
  observe: observeConfig,
  evaluate({ data, pods }: ConfigObservation) {
    if (!data) return noConfigMap()
    const text = data[CONFIG_KEY]
    if (!text)
      return fail(
        `${CONFIG_KEY} in the ConfigMap ${PROMETHEUS}`,
        'no such key',
        'Prometheus reads /etc/prometheus/prometheus.yml',
      )
    const expected = pods.filter(servesMetrics)
    if (expected.length === 0)
      return fail(
        'workloads serving /metrics on a port named http',
        'none',
        `is the step applied? ${kubectl('get deploy,statefulset')}`,
      )
    let discovery
    try {
      discovery = discover(text, expected)
    } catch (error) {
      return fail(
        `${CONFIG_KEY} that parses`,
        (error as Error).message,
        'promtool check config shows where the YAML breaks',
      )
    }
    const everywhere = discovery.watched.filter((w) => w.namespaces.length === 0).map((w) => w.job)
    if (everywhere.length > 0)
      return fail(
        `the jobs watching ${expected[0]!.namespace}, the namespace Prometheus may read`,
        `watching every namespace: ${list(everywhere)}`,
        `its Role reads pods in ${expected[0]!.namespace} alone, so a cluster-wide list is refused (forbidden, in its log) and it discovers nothing: ` +
          'name the namespace under kubernetes_sd_configs namespaces.names',
      )
    const notScraped = expected.filter(
      (pod) => !discovery.targets.some((t) => t.workload === pod.workload && t.port === 'http'),
    )
    if (notScraped.length > 0) {
      const why = notScraped.map((pod) => {
        const reason = discovery.leftOut.find(
          (l) => l.workload === pod.workload && (l.port === 'http' || l.port === '*'),
        )
        return `${pod.workload}: ${reason?.why ?? 'no kubernetes_sd_configs job with role pod'}`
      })
      return fail(
        `a target for the http port of: ${list(expected.map((p) => p.workload))}`,
        `not scraped: ${list(why)}`,
        "relabel rules keep or drop targets by their __meta_kubernetes_* labels, and a keep whose regex matches no pod's labels keeps none " +
          '(regexes are anchored at both ends); the job must watch this namespace, and its selectors must select the pods',
      )
    }
    const twice = expected.filter((pod) => discovery.targets.filter((t) => t.workload === pod.workload).length > 1)
    if (twice.length > 0)
      return fail(
        'one target per pod (its http port)',
        `several for: ${list(twice.map((p) => p.workload))}`,
        'without the keep on the port named http, each container port becomes a target, and those that do not speak HTTP are down',
      )
    return passWith(`${expected.map((p) => p.workload).join(', ')}`)
  },
})

export interface RulesObservation {
  data: Record<string, string> | null
  /** The tested rules file's text. */
  tested: string
}

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
}

/** Each rule by name (alert or record), with what decides when and how it fires. */
function rulesByName(text: string): Map<string, string> {
  const file = parse(text) as { groups?: { name: string; rules?: Rule[] }[] } | null
  const rules = new Map<string, string>()
  for (const group of file?.groups ?? [])
    for (const rule of group.rules ?? [])
      rules.set(
        rule.alert ?? rule.record ?? '?',
        JSON.stringify({ expr: String(rule.expr).trim(), for: rule.for, labels: rule.labels }),
      )
  return rules
}

export const alertRulesTested = check({
  id: 'alert-rules-tested',
  title: `the alert and recording rules Prometheus loads are the ones promtool tests (${TESTED_RULES})`,
  needs: 'api',
  timeoutMs: 15_000,
  async observe(env): Promise<RulesObservation> {
    const configMap = await orNull(
      env.kube.core.readNamespacedConfigMap({ name: PROMETHEUS, namespace: env.namespace }),
    )
    return {
      data: configMap ? { ...configMap.data } : null,
      tested: await readFile(join(repoRoot, TESTED_RULES), 'utf8'),
    }
  },
  evaluate({ data, tested }: RulesObservation) {
    if (!data) return noConfigMap()
    const text = data[RULES_KEY]
    if (!text)
      return fail(
        `${RULES_KEY} in the ConfigMap ${PROMETHEUS}`,
        'no such key',
        `prometheus.yml's rule_files names ${RULES_KEY}`,
      )
    let loaded: Map<string, string>
    try {
      loaded = rulesByName(text)
    } catch (error) {
      return fail(
        `${RULES_KEY} that parses`,
        (error as Error).message,
        'promtool check rules shows where the YAML breaks',
      )
    }
    const wanted = rulesByName(tested)
    const changed = [...wanted]
      .filter(([name, rule]) => loaded.has(name) && loaded.get(name) !== rule)
      .map(([name]) => name)
    const missing = [...wanted.keys()].filter((name) => !loaded.has(name))
    const untested = [...loaded.keys()].filter((name) => !wanted.has(name))
    if (changed.length + missing.length + untested.length === 0) return passWith(`${wanted.size} rules`)
    const seen = [
      changed.length > 0 ? `changed: ${list(changed)}` : '',
      missing.length > 0 ? `missing: ${list(missing)}` : '',
      untested.length > 0 ? `untested: ${list(untested)}` : '',
    ]
      .filter(Boolean)
      .join('; ')
    return fail(
      `the ${wanted.size} rules of ${TESTED_RULES}`,
      seen,
      `a rule edited in the ConfigMap alone is one no test ran: an expression on a metric or job no target has never fires. ` +
        `Change ${TESTED_RULES} and its promtool tests, then copy it into 75-prometheus-config.yaml`,
    )
  },
})

// ---------- PodDisruptionBudgets ----------

export interface BudgetsObservation {
  budgets: {
    name: string
    minAvailable?: number | string
    maxUnavailable?: number | string
    /** The replicas of the workloads whose pods the budget selects. */
    replicas: number
  }[]
}

/** How many of `replicas` pods a budget lets go at once, from its rule (percentages rounded up, as the disruption controller does). */
export function evictionsAllowed(budget: BudgetsObservation['budgets'][number]): number {
  const { minAvailable, maxUnavailable, replicas } = budget
  const count = (value: number | string) =>
    typeof value === 'number' ? value : Math.ceil((Number.parseFloat(value) / 100) * replicas)
  if (maxUnavailable !== undefined) return Math.min(replicas, count(maxUnavailable))
  if (minAvailable !== undefined) return Math.max(0, replicas - count(minAvailable))
  return 0
}

interface Budget {
  metadata?: { name?: string }
  spec?: {
    minAvailable?: number | string
    maxUnavailable?: number | string
    selector?: { matchLabels?: Record<string, string> }
  }
}

/** Each budget's rule, with the replicas of the workloads whose pod template its selector selects. */
export function budgetsObservation(pdbs: readonly Budget[], workloads: readonly Workload[]): BudgetsObservation {
  return {
    budgets: pdbs.map((pdb) => {
      const selector = pdb.spec?.selector?.matchLabels ?? {}
      const replicas = workloads
        .filter((w) => Object.entries(selector).every(([k, v]) => w.spec?.template?.metadata?.labels?.[k] === v))
        .reduce((sum, w) => sum + (w.spec?.replicas ?? 1), 0)
      const { minAvailable, maxUnavailable } = pdb.spec ?? {}
      return {
        name: pdb.metadata!.name!,
        ...(minAvailable !== undefined ? { minAvailable } : {}),
        ...(maxUnavailable !== undefined ? { maxUnavailable } : {}),
        replicas,
      }
    }),
  }
}

export const budgetsAllowEviction = check({
  id: 'budgets-allow-eviction',
  title: 'each PodDisruptionBudget lets a node drain evict at least one of its pods',
  needs: 'api',
  timeoutMs: 15_000,
  async observe(env): Promise<BudgetsObservation> {
    const policy = env.kube.config.makeApiClient(PolicyV1Api)
    const [pdbs, workloads] = await Promise.all([
      policy.listNamespacedPodDisruptionBudget({ namespace: env.namespace }),
      workloadsOf(env),
    ])
    return budgetsObservation(pdbs.items, workloads)
  },
  evaluate({ budgets }: BudgetsObservation) {
    if (budgets.length === 0) return fail('a PodDisruptionBudget per serving workload', 'none', `${kubectl('get pdb')}`)
    const blocking = budgets.filter((b) => evictionsAllowed(b) < 1)
    if (blocking.length > 0)
      return fail(
        'every budget allowing one eviction at least',
        `blocks every eviction: ${list(blocking.map((b) => `${b.name} (${b.maxUnavailable !== undefined ? `maxUnavailable: ${b.maxUnavailable}` : `minAvailable: ${b.minAvailable}`} of ${b.replicas})`))}`,
        'a budget that allows no eviction makes kubectl drain wait for ever, and a node upgrade never ends: maxUnavailable: 1, or minAvailable below the replicas ' +
          '(the model servers can be at 1 replica, the HPA minimum, so a minAvailable there blocks)',
      )
    return passWith(budgets.map((b) => `${b.name} ${evictionsAllowed(b)} of ${b.replicas}`).join(', '))
  },
})

// ---------- the namespace's quota, limits and priority ----------

/** What the quota counts, each summed over the step's pods at their largest. */
const QUOTA_RESOURCES = ['requests.nvidia.com/gpu', 'requests.cpu', 'requests.memory', 'limits.memory', 'pods'] as const
type QuotaResource = (typeof QUOTA_RESOURCES)[number]

export interface Autoscaler {
  spec?: { scaleTargetRef?: { kind?: string; name?: string }; maxReplicas?: number }
}

/**
 * Each quota resource summed over the step at its largest: a workload an HPA scales at the
 * HPA's maxReplicas, a Deployment with its rolling update's maxSurge (1 unless a number says
 * otherwise), and why each counts that many.
 */
export function largestFootprint(
  workloads: readonly Workload[],
  autoscalers: readonly Autoscaler[],
): { totals: Record<QuotaResource, number>; pods: string[] } {
  const totals = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, 0])) as Record<QuotaResource, number>
  const pods: string[] = []
  for (const workload of workloads) {
    const name = workload.metadata!.name!
    const scaler = autoscalers.find(
      (a) => a.spec?.scaleTargetRef?.kind === workload.kind && a.spec?.scaleTargetRef?.name === name,
    )
    const strategy = (workload.spec as { strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string } } })
      .strategy
    const surge =
      workload.kind !== 'Deployment' || strategy?.type === 'Recreate'
        ? 0
        : typeof strategy?.rollingUpdate?.maxSurge === 'number'
          ? strategy.rollingUpdate.maxSurge
          : 1
    const count = (scaler?.spec?.maxReplicas ?? workload.spec?.replicas ?? 1) + surge
    pods.push(`${name} ${count}`)
    totals.pods += count
    for (const container of workload.spec?.template?.spec?.containers ?? []) {
      const { requests = {}, limits = {} } = container.resources ?? {}
      const add = (resource: QuotaResource, value: string | undefined) => {
        if (value !== undefined) totals[resource] += count * quantityValue(value)
      }
      add('requests.nvidia.com/gpu', requests[GPU_RESOURCE] ?? limits[GPU_RESOURCE])
      add('requests.cpu', requests.cpu)
      add('requests.memory', requests.memory)
      add('limits.memory', limits.memory)
    }
  }
  return { totals, pods }
}

export interface QuotaObservation {
  /** The namespace's ResourceQuota limits, the lowest where several name a resource; null with none. */
  hard: Record<string, string> | null
  largest: ReturnType<typeof largestFootprint>
  /** A container that states no resources, as the API server would admit it (server-side dry run), or its refusal. */
  bare: { requests: Record<string, string>; limits: Record<string, string> } | { refused: string }
  /** Each workload's priorityClassName and that class's value; null value when the class does not exist. */
  priorities: { workload: string; className: string | null; value: number | null }[]
}

const SERVING_PATH = [MODEL_SERVERS, FRONTEND, ADAPTER]

export const quotaHoldsTheStep = check({
  id: 'quota-holds-the-step',
  title:
    "a ResourceQuota caps the namespace's GPUs and holds the step at its largest, a LimitRange gives defaults, and the serving path runs at a priority",
  needs: 'api',
  timeoutMs: 20_000,
  async observe(env): Promise<QuotaObservation> {
    const autoscaling = env.kube.config.makeApiClient(AutoscalingV2Api)
    const scheduling = env.kube.config.makeApiClient(SchedulingV1Api)
    const [quotas, autoscalers, workloads] = await Promise.all([
      env.kube.core.listNamespacedResourceQuota({ namespace: env.namespace }),
      autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace: env.namespace }),
      workloadsOf(env),
    ])
    const hard: Record<string, string> = {}
    for (const quota of quotas.items)
      for (const [resource, value] of Object.entries(quota.spec?.hard ?? {}))
        if (!hard[resource] || quantityValue(value) < quantityValue(hard[resource])) hard[resource] = value
    const bareContainer = {
      name: 'probe',
      image: IMAGE,
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    }
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'limit-range-probe', namespace: env.namespace },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [bareContainer],
      },
    }
    const bare = await apply(env.kube, [pod as KubernetesObject], { dryRun: true }).then(
      ([admitted]) => {
        const resources = (admitted as V1Pod).spec?.containers[0]?.resources
        return { requests: { ...resources?.requests }, limits: { ...resources?.limits } }
      },
      (error: Error) => ({ refused: refusalOf(error) }),
    )
    const priorities = await Promise.all(
      workloads
        .filter((w) => SERVING_PATH.includes(w.metadata!.name!))
        .map(async (w) => {
          const className = w.spec?.template?.spec?.priorityClassName ?? null
          const found = className ? await orNull(scheduling.readPriorityClass({ name: className })) : null
          return { workload: w.metadata!.name!, className, value: found?.value ?? null }
        }),
    )
    return {
      hard: quotas.items.length > 0 ? hard : null,
      largest: largestFootprint(workloads, autoscalers.items as Autoscaler[]),
      bare,
      priorities,
    }
  },
  evaluate({ hard, largest, bare, priorities }: QuotaObservation) {
    const gpus = 'requests.nvidia.com/gpu'
    if (!hard?.[gpus])
      return fail(
        `a ResourceQuota with ${gpus}`,
        hard ? `a quota on ${list(Object.keys(hard))} only` : 'no ResourceQuota',
        `06-quota.yaml caps the namespace: without ${gpus} nothing stops a replicas: 40 from taking every GPU of the cluster. ${kubectl('describe resourcequota')}`,
      )
    const short = QUOTA_RESOURCES.filter((r) => hard[r] !== undefined && quantityValue(hard[r]) < largest.totals[r])
    if (short.length > 0)
      return fail(
        `a quota that holds the step at its largest (${largest.pods.join(', ')} pods)`,
        short.map((r) => `${r} ${hard[r]} < ${formatTotal(r, largest.totals[r])}`).join(', '),
        `a pod past the quota is refused at creation: the HPA's scale-up to maxReplicas or a rolling update's surge pod would stay missing, with only a FailedCreate event on its workload. ${kubectl('describe resourcequota')}`,
      )
    if ('refused' in bare || !bare.requests.cpu || !bare.requests.memory || !bare.limits.memory)
      return fail(
        'a container that states no resources admitted, with a default request and memory limit',
        'refused' in bare
          ? `refused: ${bare.refused}`
          : `admitted with requests ${JSON.stringify(bare.requests)}, limits ${JSON.stringify(bare.limits)}`,
        'a quota on requests.cpu, requests.memory and limits.memory refuses a pod whose containers do not state them; a LimitRange with defaultRequest and default (06-quota.yaml) fills them in',
      )
    const low = priorities.filter((p) => !p.value || p.value <= 0)
    if (low.length > 0)
      return fail(
        `the serving path (${SERVING_PATH.join(', ')}) at a PriorityClass above 0`,
        low
          .map(
            (p) =>
              `${p.workload}: ${p.className ? `${p.className}${p.value === null ? ' (no such class)' : ` (${p.value})`}` : 'no priorityClassName'}`,
          )
          .join(', '),
        'priorityClassName in each pod template names a PriorityClass (05-priority-class.yaml); without one, pods run at 0 and the kubelet evicts them under node pressure as soon as anything else',
      )
    return passWith(
      `GPUs ${hard[gpus]} of ${largest.totals[gpus]} at most; defaults ${bare.requests.cpu} CPU, ${bare.requests.memory}, limit ${bare.limits.memory}`,
    )
  },
})

function formatTotal(resource: QuotaResource, total: number): string {
  if (resource.endsWith('memory')) return `${Math.round(total / 2 ** 20)}Mi`
  if (resource === 'requests.cpu') return `${Math.round(total * 1000)}m`
  return String(total)
}

// ---------- Prometheus's least privilege ----------

export const prometheusMayDo: readonly Access[] = [
  { verb: 'list', group: '', resource: 'pods' },
  { verb: 'watch', group: '', resource: 'pods' },
  { verb: 'get', group: '', resource: 'pods' },
  { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices' },
  { verb: 'watch', group: 'discovery.k8s.io', resource: 'endpointslices' },
]
export const prometheusMayNotDo: readonly Access[] = [
  { verb: 'list', group: '', resource: 'pods', namespace: ALL },
  { verb: 'list', group: '', resource: 'pods', namespace: 'kube-system' },
  { verb: 'list', group: '', resource: 'secrets' },
  { verb: 'get', group: '', resource: 'secrets' },
  { verb: 'list', group: '', resource: 'configmaps' },
  { verb: 'delete', group: '', resource: 'pods' },
  { verb: 'create', group: '', resource: 'pods' },
  { verb: 'list', group: '', resource: 'nodes', namespace: ALL },
]

export const prometheusLeastPrivilege = check({
  id: 'prometheus-least-privilege',
  title: 'Prometheus may read the pods and EndpointSlices of this namespace and nothing more',
  needs: 'api',
  timeoutMs: 10_000,
  async observe(env): Promise<{ answers: Answered<Access>[] }> {
    return { answers: await askAccess(env, PROMETHEUS, [...prometheusMayDo, ...prometheusMayNotDo]) }
  },
  evaluate({ answers }: { answers: Answered<Access>[] }) {
    return judgeLeastPrivilege(answers, prometheusMayDo, prometheusMayNotDo, {
      refused: `without them its Kubernetes discovery finds nothing: 70-prometheus-rbac.yaml's Role and RoleBinding ${PROMETHEUS}; ${kubectl(`describe role,rolebinding ${PROMETHEUS}`)}`,
      granted:
        'service discovery needs get, list and watch on pods (and EndpointSlices) where it looks, no more: a ClusterRole, a wildcard or secrets lets a scraper read credentials; the reason in brackets names the rule',
    })
  },
})

// ---------- with running containers ----------

export interface TargetsObservation {
  /** The answer of Prometheus's /api/v1/targets through the API server's service proxy. */
  status: number
  targets: { workload: string; pod: string; health: string; lastError: string }[]
  expected: string[]
}

export const prometheusScrapes = check({
  id: 'prometheus-scrapes',
  title: 'Prometheus scrapes every workload pod, each target up',
  needs: 'pods',
  // The first scrape of a new target comes within one scrape interval (15 s) of its discovery:
  // a mutation suite's shorter cap would judge a target Prometheus has not reached yet.
  timeoutMs: 90_000,
  minimumTimeoutMs: 45_000,
  async observe(env): Promise<TargetsObservation> {
    const expected = podShapesOf(await workloadsOf(env))
      .filter(servesMetrics)
      .map((p) => p.workload)
    const answer = await proxyAnswer(
      env.kube.core.connectGetNamespacedServiceProxyWithPath({
        name: `${PROMETHEUS}:http`,
        namespace: env.namespace,
        // No query string: the client escapes a ? in the path, and Prometheus answers 404 to targets%3F….
        path: 'api/v1/targets',
      }),
    )
    if (answer.status !== 200) return { status: answer.status, targets: [], expected }
    const body = JSON.parse(answer.body) as {
      data?: { activeTargets?: { labels: Record<string, string>; health: string; lastError: string }[] }
    }
    const targets = (body.data?.activeTargets ?? []).map((t) => ({
      workload: t.labels.app ?? '',
      pod: t.labels.pod ?? '',
      health: t.health,
      lastError: t.lastError,
    }))
    return { status: answer.status, targets, expected }
  },
  evaluate({ status, targets, expected }: TargetsObservation) {
    if (status !== 200)
      return fail('Prometheus answering /api/v1/targets', `HTTP ${status}`, `${kubectl(`logs deploy/${PROMETHEUS}`)}`)
    const absent = expected.filter((w) => !targets.some((t) => t.workload === w))
    if (absent.length > 0)
      return fail(
        `targets for ${list(expected)}`,
        `none for ${list(absent)}`,
        'its discovery found no such pod: the Role lets it list pods here, and prometheus.yml watches this namespace',
      )
    const down = targets.filter((t) => t.health !== 'up')
    if (down.length > 0)
      return fail(
        'every target up',
        list(down.map((t) => `${t.pod} ${t.health}: ${t.lastError}`)),
        'a NetworkPolicy must let Prometheus reach each workload on its http port',
      )
    return passWith(`${targets.length} targets up`)
  },
})

// ---------- a refused path, on the wire ----------

/** The probe pods' name: no policy admits a pod of this name to anything. */
const PROBE = 'network-probe'

/** A pod's address and its port named http. */
export interface Endpoint {
  pod: string
  ip: string
  port: number
}

export interface WirePathsObservation {
  /** A Ready model server and a Ready frontend; null when there is none. */
  server: Endpoint | null
  frontend: Endpoint | null
  /** The frontend's request to the model server: the path the model servers' policy admits. */
  frontendToServer?: Attempt
  /**
   * A throw-away pod of the namespace that no policy admits: its request to the frontend, which
   * any pod may reach (so its network works), and to the model server, which it may not.
   */
  probe?: { pod: string; ready: boolean; waiting?: string; toFrontend?: Attempt; toServer?: Attempt }
}

function endpointOfPod(pod: V1Pod | undefined): Endpoint | null {
  const ip = pod?.status?.podIP
  const port = pod?.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === 'http')?.containerPort
  return pod && ip && port !== undefined ? { pod: nameOf(pod), ip, port } : null
}

/** GET /health from a pod's container to an endpoint; exec goes through the kubelet, which no policy stands in. */
async function attemptFrom(env: CheckEnv, pod: string, container: string, to: Endpoint): Promise<Attempt> {
  const command = ['node', '-e', CONNECT, to.ip, String(to.port), '/health']
  const { stdout, stderr } = await execInPod(env.kube, env.namespace, pod, container, command)
  try {
    return JSON.parse(stdout) as Attempt
  } catch {
    return { outcome: 'error', detail: (stdout + stderr).trim().slice(0, 200) || 'no output' }
  }
}

/** A probe pod started for one observation, its two requests sent once it runs, and the pod deleted again. */
async function probeAttempts(
  env: CheckEnv,
  server: Endpoint,
  frontend: Endpoint,
): Promise<NonNullable<WirePathsObservation['probe']>> {
  const name = `${PROBE}-${randomBytes(3).toString('hex')}`
  await apply(env.kube, [probePod(env.namespace, name, IMAGE, IDLE)])
  try {
    const { value: pod } = await pollUntil(
      () => env.kube.core.readNamespacedPod({ name, namespace: env.namespace }),
      isReady,
      { timeoutMs: 40_000 },
    )
    const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason
    if (!isReady(pod)) return { pod: name, ready: false, ...(waiting ? { waiting } : {}) }
    return {
      pod: name,
      ready: true,
      toFrontend: await attemptFrom(env, name, name, frontend),
      toServer: await attemptFrom(env, name, name, server),
    }
  } finally {
    await env.kube.core.deleteNamespacedPod({ name, namespace: env.namespace, gracePeriodSeconds: 0 })
  }
}

export const modelServersRefuseStrangers = check({
  id: 'model-servers-refuse-strangers',
  title:
    'on the wire, a model server answers the frontend and no other pod of the namespace: the policies are enforced, not only stored',
  needs: 'pods',
  timeoutMs: 120_000,
  async observe(env): Promise<WirePathsObservation> {
    const [servers, frontends] = await Promise.all([podsOf(env, MODEL_SERVERS), podsOf(env, FRONTEND)])
    const server = endpointOfPod(servers.find(isReady))
    const frontend = endpointOfPod(frontends.find(isReady))
    if (!server || !frontend) return { server, frontend }
    return {
      server,
      frontend,
      frontendToServer: await attemptFrom(env, frontend.pod, FRONTEND, server),
      probe: await probeAttempts(env, server, frontend),
    }
  },
  evaluate({ server, frontend, frontendToServer, probe }: WirePathsObservation) {
    if (!server || !frontend)
      return fail(
        'a model server and a frontend pod Ready, each with a pod IP and a port named http',
        `${server ? server.pod : 'no model server'}, ${frontend ? frontend.pod : 'no frontend'}`,
        kubectl(`get pods -l 'app.kubernetes.io/name in (${MODEL_SERVERS},${FRONTEND})' -o wide`),
      )
    const serverAt = `${server.pod} (${server.ip}:${server.port})`
    if (frontendToServer?.outcome !== 'answered')
      return fail(
        `${serverAt} answering ${frontend.pod}, which its policy admits`,
        describeAttempt(frontendToServer),
        `the policy ${MODEL_SERVERS} admits the frontend on http; without that answer a refused stranger proves nothing. ` +
          'A policy that lists Egress cuts the frontend too; else is the model server serving, and does the CNI know both pods (kube-router logs on their nodes)?',
      )
    if (!probe?.ready)
      return fail(
        `the probe pod ${probe?.pod ?? PROBE} running`,
        probe?.waiting ?? 'not Ready within 40 s',
        `it runs the workload image ${IMAGE}, which the nodes must have (npm run step loads it): ${kubectl('get events --field-selector involvedObject.kind=Pod')}`,
      )
    if (probe.toFrontend?.outcome !== 'answered')
      return fail(
        `${frontend.pod} (${frontend.ip}:${frontend.port}) answering ${probe.pod}: the frontend's port is open to every pod`,
        describeAttempt(probe.toFrontend),
        "the probe's own network does not work, so its refused request would prove nothing: the pod network must give a new pod a route " +
          `(kubectl -n kube-system get pods -l k8s-app=kube-router), and the policy ${FRONTEND} admits anyone on http`,
      )
    const outcome = probe.toServer?.outcome ?? 'error'
    if (outcome === 'answered')
      return fail(
        `no answer from ${serverAt} to ${probe.pod}, a pod no policy admits`,
        `it answered: ${describeAttempt(probe.toServer)}`,
        "either the model servers' policy admits every pod (an empty podSelector in `from`, no `from`, or an ipBlock whose range holds the pod network's addresses), " +
          'or nothing enforces NetworkPolicy: ' +
          "the cluster's CNI must implement it (kube-router on the lab's kind clusters: kubectl -n kube-system get pods -l k8s-app=kube-router)",
      )
    if (outcome === 'error')
      return fail(
        `${probe.pod}'s request refused or timed out`,
        describeAttempt(probe.toServer),
        'the request failed in another way; the error code names it',
      )
    return passWith(
      `${server.pod} answered ${frontend.pod}; ${PROBE}: frontend ${describeAttempt(probe.toFrontend)}, model server ${describeAttempt(probe.toServer)}`,
    )
  },
})

// ---------- drills: losing part of the cluster on purpose ----------

export interface LoseNodeObservation {
  /** The node lost, and how; null when there was no model server to lose the node of. */
  lost: { node: string; how: string } | null
  /** The first model server now: where it runs, and whether it is Ready. */
  server: { pod: string; node: string | null; ready: boolean } | null
  /** Where containers run: a completion through the frontend, once the server is back; else null. */
  answer: { status: number; body: string } | null
  /** Seconds since the node was lost. */
  sinceLoss: number
}

/** What the drill broke, kept from its act to its observations and its recovery. */
const drill: { lost: LostNode | null; at: number; runsContainers: boolean } = {
  lost: null,
  at: 0,
  runsContainers: false,
}
const FIRST_SERVER = `${MODEL_SERVERS}-0`
const ANSWER_TIMEOUT_MS = 15_000

async function completionThroughFrontend(env: CheckEnv): Promise<{ status: number; body: string }> {
  const body = { model: MODEL, prompt: 'are you back', max_tokens: 5 }
  const answer = proxyPost(env.kube, env.namespace, { service: `${FRONTEND}:http` }, '/v1/completions', body)
  // A request the API server proxies to a pod on the frozen node gets no answer at all.
  const timeout = sleep(ANSWER_TIMEOUT_MS).then(() => ({
    status: 0,
    body: `no answer in ${ANSWER_TIMEOUT_MS / 1000} s`,
  }))
  return Promise.race([answer, timeout])
}

export const loseANode = check({
  id: 'lose-a-node',
  title: 'losing the node under a model server, the server is Ready again on another node and the frontend answers',
  needs: 'api',
  // The node is seen NotReady after kube-controller-manager's node-monitor-grace-period (50 s),
  // the pod garbage collector runs every 20 s (on kwok: a 40 s quarantine for a deleted Node),
  // then the server starts elsewhere.
  timeoutMs: 240_000,
  async act(env) {
    drill.runsContainers = await clusterRunsContainers(env.kube)
    const server = await orNull(env.kube.core.readNamespacedPod({ name: FIRST_SERVER, namespace: env.namespace }))
    const node = server?.spec?.nodeName
    if (!node) return
    drill.lost = await loseNode(env.kube, node)
    drill.at = Date.now()
  },
  async observe(env): Promise<LoseNodeObservation> {
    const sinceLoss = Math.round((Date.now() - drill.at) / 1000)
    if (!drill.lost) return { lost: null, server: null, answer: null, sinceLoss }
    const pod = (await podsOf(env, MODEL_SERVERS)).find((p) => nameOf(p) === FIRST_SERVER)
    const server = pod ? { pod: FIRST_SERVER, node: pod.spec?.nodeName ?? null, ready: isReady(pod) } : null
    const back = server?.ready === true && server.node !== drill.lost.name
    const answer = back && drill.runsContainers ? await completionThroughFrontend(env) : null
    return { lost: { node: drill.lost.name, how: drill.lost.how }, server, answer, sinceLoss }
  },
  evaluate({ lost, server, answer, sinceLoss }: LoseNodeObservation) {
    if (!lost)
      return fail(
        `a model server, ${FIRST_SERVER}, bound to a node, to lose that node`,
        'none',
        `is the step applied and rolled out? ${kubectl(`get pod ${FIRST_SERVER} -o wide`)}`,
      )
    if (!server || !server.ready || server.node === lost.node)
      return fail(
        `${FIRST_SERVER} Ready on a node other than ${lost.node} (${lost.how})`,
        server
          ? `${FIRST_SERVER} on ${server.node ?? 'no node yet'}, ${server.ready ? 'Ready' : 'not Ready'}, ${sinceLoss} s after the loss`
          : `no ${FIRST_SERVER} (besides one being deleted), ${sinceLoss} s after the loss`,
        `a StatefulSet makes ${FIRST_SERVER} again only once the old one is gone, and a pod on a lost node goes only when ` +
          `the node is NotReady and tainted ${OUT_OF_SERVICE.key} (or its Node deleted); ${kubectl(`describe pod ${FIRST_SERVER}`)}`,
      )
    if (answer && answer.status !== 200)
      return fail(
        'a completion through the frontend answered 200',
        `${answer.status} ${answer.body.slice(0, 160)}`,
        'the frontend follows the servers by their EndpointSlices: its pods on the lost node must be replaced, and the moved server must be among its backends',
      )
    const served = answer ? '; the frontend answered' : ''
    return passWith(
      `${FIRST_SERVER} moved from ${lost.node} to ${server.node}, Ready ${sinceLoss} s after the loss (${lost.how})${served}`,
    )
  },
  async recover() {
    const lost = drill.lost
    drill.lost = null
    await lost?.recover()
  },
})

export const checks: Check[] = [
  podSecurityEnforced,
  networkPaths,
  dnsOpen,
  prometheusDiscovers,
  alertRulesTested,
  budgetsAllowEviction,
  quotaHoldsTheStep,
  prometheusLeastPrivilege,
  prometheusScrapes,
  modelServersRefuseStrangers,
]

/** Run after the checks, by `npm run step 08` and the end-to-end run; the mutation suite leaves them out. */
export const drills: Check[] = [loseANode]

if (isMain(import.meta.url)) await runStandalone(import.meta.url, [...checks, ...drills])
