#!/usr/bin/env -S npx tsx
// Step 07 verification: the metrics adapter serves waiting-requests through the aggregator, the
// HorizontalPodAutoscaler reads it and scales the model servers' StatefulSet (up fast, down after
// its stabilisation window), a replica on its way out loses no request, and the variants (KEDA's
// ScaledObject, an HPA on a LeaderWorkerSet) are admitted by the API server.
// Runs alone (`npx tsx steps/07-autoscaling/test-07-autoscaling.ts [--context NAME] [--json]`)
// and is what `npm run step 07` runs after applying the step.
import { join } from 'node:path'
import { ApiregistrationV1Api, AutoscalingV2Api, DiscoveryV1Api, type KubernetesObject } from '@kubernetes/client-node'
import { installKedaCrds } from '../../scripts/lib/build/keda-crds.ts'
import { check, fail, NAMESPACE, pass, passWith, type Check, type CheckEnv } from '../../scripts/lib/checks/check.ts'
import {
  ALL_NAMESPACES as ALL,
  askAccess,
  judgeLeastPrivilege,
  kubectl,
  list,
  orNull,
  type Access,
  type Answered,
} from '../../scripts/lib/checks/kit.ts'
import { isMain, runStandalone } from '../../scripts/lib/checks/standalone.ts'
import { HPA_SYNC_PERIOD_SECONDS } from '../../scripts/lib/cluster/controller-manager.ts'
import { apply, getRaw, proxyPost } from '../../scripts/lib/kube.ts'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { inNamespace } from '../../scripts/lib/mutations/namespace-copy.ts'

const STEP_NAMESPACE = 'lab-07'
const HPA = 'llama'
const MODEL_SERVERS = 'llama'
const FRONTEND = 'frontend'
const ADAPTER = 'metrics-adapter'
const METRIC = 'waiting-requests'
const API_SERVICE = 'v1beta1.external.metrics.k8s.io'
const MODEL = 'meta-llama/Meta-Llama-3-8B-Instruct'
const variantsDir = join(import.meta.dirname, 'variants')

const autoscalers = (env: CheckEnv) => env.kube.config.makeApiClient(AutoscalingV2Api)
const flag = (args: readonly string[], name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}

// ---------- the metric, through the aggregator ----------

/** The external metric the HPA reads: its name and its selector as a query string. */
interface HpaMetric {
  name: string
  labelSelector: string
}

function selectorText(selector?: {
  matchLabels?: Record<string, string>
  matchExpressions?: { key: string; operator: string; values?: string[] }[]
}): string {
  const terms = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`)
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    if (operator === 'In') terms.push(`${key} in (${values.join(',')})`)
    else if (operator === 'NotIn') terms.push(`${key} notin (${values.join(',')})`)
    else if (operator === 'Exists') terms.push(key)
    else terms.push(`!${key}`)
  }
  return terms.join(',')
}

async function hpaMetric(env: CheckEnv): Promise<HpaMetric | null> {
  const hpa = await orNull(
    autoscalers(env).readNamespacedHorizontalPodAutoscaler({ name: HPA, namespace: env.namespace }),
  )
  const external = hpa?.spec?.metrics?.find((m) => m.type === 'External')?.external
  if (!external) return null
  return { name: external.metric.name, labelSelector: selectorText(external.metric.selector) }
}

export interface ServedObservation {
  /** The metric the HPA asks for, or null when the HPA has no External metric. */
  metric: HpaMetric | null
  status: number
  kind?: string
  items?: number
  message?: string
  /** The APIService's Available condition, read when the query failed: the aggregator's own diagnosis. */
  available?: string
}

/** `Available=False (FailedDiscoveryCheck: …)`, as kubectl describe shows it; null when there is no APIService. */
async function apiServiceAvailability(env: CheckEnv): Promise<string | null> {
  const apiService = await orNull(
    env.kube.config.makeApiClient(ApiregistrationV1Api).readAPIService({ name: API_SERVICE }),
  )
  if (!apiService) return null
  const condition = apiService.status?.conditions?.find((c) => c.type === 'Available')
  if (!condition) return 'Available unknown (no condition yet)'
  return `Available=${condition.status}${condition.reason ? ` (${condition.reason}${condition.message ? `: ${condition.message}` : ''})` : ''}`
}

export const metricServed = check({
  id: 'metric-served',
  title: `the API server answers the HPA's external metric through the aggregator (a real query to ${API_SERVICE})`,
  needs: 'api',
  timeoutMs: 30_000,
  // The aggregator takes a few seconds to use an APIService's new port and caBundle.
  minimumTimeoutMs: 10_000,
  async observe(env): Promise<ServedObservation> {
    const metric = await hpaMetric(env)
    if (!metric) return { metric, status: 0 }
    const path =
      `/apis/external.metrics.k8s.io/v1beta1/namespaces/${env.namespace}/${metric.name}` +
      `?labelSelector=${encodeURIComponent(metric.labelSelector)}`
    const { status, text } = await getRaw(env.kube, path)
    let body: { kind?: string; items?: unknown[]; message?: string } = {}
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      body = { message: text.trim() }
    }
    const available = status === 200 ? null : await apiServiceAvailability(env)
    return {
      metric,
      status,
      ...(body.kind ? { kind: body.kind } : {}),
      ...(Array.isArray(body.items) ? { items: body.items.length } : {}),
      ...(body.message ? { message: body.message } : {}),
      ...(available ? { available } : {}),
    }
  },
  evaluate({ metric, status, kind, items, message, available }: ServedObservation) {
    if (!metric)
      return fail(
        `the HPA ${HPA} with an External metric`,
        'no such HPA, or no External metric in it',
        `is 50-autoscaler.yaml applied? ${kubectl(`get hpa ${HPA} -o yaml`)}`,
      )
    const asked = `${metric.name}{${metric.labelSelector}}`
    if (status === 200 && kind === 'ExternalMetricValueList' && (items ?? 0) > 0) return pass
    const seen = `${status}${message ? `: ${message}` : ''}${available ? `; the APIService: ${available}` : ''}`
    if (status === 200)
      return fail(
        `a value for ${asked}`,
        'an empty list',
        'no pod the selector selects exports the metric: the selector names the EndpointSlices (kubernetes.io/service-name) of the frontend and the model servers',
      )
    if (status === 404)
      return fail(
        `a value for ${asked}`,
        seen,
        `the adapter does not serve a metric named ${metric.name}: it serves waiting-requests, running-requests and kv-cache-usage (kubectl get --raw /apis/external.metrics.k8s.io/v1beta1)`,
      )
    if (/x509|certificate/i.test(message ?? ''))
      return fail(
        `a value for ${asked}`,
        seen,
        `the aggregator does not trust the adapter's certificate: the APIService ${API_SERVICE}'s caBundle must be the CA of the certificate the adapter serves, made for ${ADAPTER}.${NAMESPACE}.svc ` +
          '(the adapter writes it with --apiservice; its Available condition stays True anyway, as the availability probe skips the verification)',
      )
    return fail(
      `a value for ${asked}`,
      seen,
      `is the adapter running and its APIService Available? kubectl get apiservice ${API_SERVICE}; ${kubectl(`logs deploy/${ADAPTER}`)}`,
    )
  },
})

// ---------- the HPA as declared ----------

export interface AutoscalerObservation {
  hpa: {
    target: { apiVersion?: string; kind: string; name: string }
    targetExists: boolean
    minReplicas: number
    maxReplicas: number
    metric?: { type: string; name?: string; target?: string }
    scaleUpWindow: number
    scaleDownWindow: number
    ableToScale?: { status: string; message?: string }
  } | null
}

export const autoscalerDeclared = check({
  id: 'autoscaler-declared',
  title: `the HPA ${HPA} scales the StatefulSet ${MODEL_SERVERS} on ${METRIC} per replica, up at once and down after a stabilisation window`,
  needs: 'api',
  timeoutMs: 30_000,
  async observe(env): Promise<AutoscalerObservation> {
    const hpa = await orNull(
      autoscalers(env).readNamespacedHorizontalPodAutoscaler({ name: HPA, namespace: env.namespace }),
    )
    if (!hpa) return { hpa: null }
    const target = hpa.spec!.scaleTargetRef
    const targetExists =
      target.kind === 'StatefulSet' &&
      (await orNull(env.kube.apps.readNamespacedStatefulSet({ name: target.name, namespace: env.namespace }))) !== null
    const metric = hpa.spec!.metrics?.[0]
    const able = hpa.status?.conditions?.find((c) => c.type === 'AbleToScale')
    const scaleUp = hpa.spec!.behavior?.scaleUp?.stabilizationWindowSeconds
    const scaleDown = hpa.spec!.behavior?.scaleDown?.stabilizationWindowSeconds
    return {
      hpa: {
        target: {
          ...(target.apiVersion ? { apiVersion: target.apiVersion } : {}),
          kind: target.kind,
          name: target.name,
        },
        targetExists,
        minReplicas: hpa.spec!.minReplicas ?? 1,
        maxReplicas: hpa.spec!.maxReplicas,
        ...(metric
          ? {
              metric: {
                type: metric.type,
                ...(metric.external?.metric.name ? { name: metric.external.metric.name } : {}),
                ...(metric.external?.target.type ? { target: metric.external.target.type } : {}),
              },
            }
          : {}),
        // The defaults when unset: 0 up, 300 down.
        scaleUpWindow: scaleUp ?? 0,
        scaleDownWindow: scaleDown ?? 300,
        ...(able ? { ableToScale: { status: able.status, ...(able.message ? { message: able.message } : {}) } } : {}),
      },
    }
  },
  evaluate({ hpa }: AutoscalerObservation) {
    if (!hpa) return fail(`the HPA ${HPA}`, 'no such HPA', `is 50-autoscaler.yaml applied? ${kubectl(`get hpa`)}`)
    const { target } = hpa
    if (target.kind !== 'StatefulSet' || target.name !== MODEL_SERVERS || !hpa.targetExists)
      return fail(
        `scaleTargetRef: apps/v1 StatefulSet ${MODEL_SERVERS}`,
        `${target.apiVersion ?? ''} ${target.kind} ${target.name}` +
          (hpa.ableToScale?.message ? ` (AbleToScale ${hpa.ableToScale.status}: ${hpa.ableToScale.message})` : ''),
        'the HPA scales the object its scaleTargetRef names through its scale subresource: a wrong kind or name scales nothing ' +
          `(AbleToScale False, FailedGetScale); ${kubectl(`describe hpa ${HPA}`)}`,
      )
    if (hpa.metric?.type !== 'External' || hpa.metric.name !== METRIC || hpa.metric.target !== 'AverageValue')
      return fail(
        `an External metric ${METRIC} with an AverageValue target`,
        hpa.metric ? `${hpa.metric.type} ${hpa.metric.name ?? ''} ${hpa.metric.target ?? ''}` : 'no metric',
        'AverageValue divides the queue by the current replicas: "2 waiting per replica"; a Value target would compare the whole queue',
      )
    if (hpa.scaleDownWindow <= 0)
      return fail(
        'behavior.scaleDown.stabilizationWindowSeconds above 0',
        `${hpa.scaleDownWindow}`,
        'with no stabilisation window the HPA scales down at the first quiet sync and up again at the next burst (flapping): ' +
          'each replica removed is a model to load again; the window keeps the highest recommendation it saw',
      )
    if (hpa.scaleUpWindow > 0)
      return fail(
        'behavior.scaleUp.stabilizationWindowSeconds 0',
        `${hpa.scaleUpWindow}`,
        'a queue means users already wait: scale up at once, and let the scale-down window absorb the noise',
      )
    if (hpa.minReplicas < 1 || hpa.maxReplicas <= hpa.minReplicas)
      return fail(
        '1 ≤ minReplicas < maxReplicas',
        `${hpa.minReplicas} .. ${hpa.maxReplicas}`,
        'the HPA moves between them',
      )
    return pass
  },
})

// ---------- the HPA reads the metric and wants the replicas it implies ----------

/**
 * Where the check sends requests straight to a model server: a pod by the API server's proxy
 * (`name:port`, where a pod's port must be a number, unlike a Service's), or an address.
 */
type ServerTarget = { pod: string } | { url: string }

/** A model server of the Service: an endpoint that is not a pod (the runner's stand-in on kwok) first. */
async function aModelServer(env: CheckEnv): Promise<ServerTarget | null> {
  const slices = await env.kube.config.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({
    namespace: env.namespace,
    labelSelector: `kubernetes.io/service-name=${MODEL_SERVERS}`,
  })
  const endpoints = slices.items.flatMap((slice) =>
    slice.endpoints
      .filter((e) => e.conditions?.ready)
      .map((e) => ({ e, port: slice.ports?.find((p) => p.name === 'http')?.port })),
  )
  const standIn = endpoints.find(({ e }) => !e.targetRef)
  if (standIn?.port) return { url: `http://${standIn.e.addresses[0]}:${standIn.port}` }
  const pod = endpoints.find(({ e, port }) => e.targetRef?.kind === 'Pod' && port)
  return pod ? { pod: `${pod.e.targetRef!.name}:${pod.port}` } : null
}

const completion = (seconds: number) => ({
  model: MODEL,
  prompt: 'count slowly',
  // 20 ms per token (the StatefulSet's --inter-token-latency-ms), 30 ms in a full batch.
  max_tokens: seconds * 50,
  ignore_eos: true,
})

/**
 * How long each request of the scale-up burst decodes: 7.5 s in a full batch. The frontend's
 * queue puts the steady client first, but it cannot pre-empt a request a server already runs,
 * so a steady request may wait for one of the burst's to end (or to reach its 20 s deadline)
 * and must still finish within its own 20 s. With 15 s requests (22.5 s in a full batch) it
 * did not, on a loaded machine. The queue still stands long enough for the HPA: the burst's
 * requests wait in it until served or until their deadline.
 */
const BURST_SECONDS = 5

/** Long requests to one server: with --max-num-seqs 2, all but two wait. Not awaited. */
function fillQueue(env: CheckEnv, target: ServerTarget, requests: number, seconds: number): void {
  for (let i = 0; i < requests; i++) {
    const sent =
      'pod' in target
        ? proxyPost(env.kube, env.namespace, target, '/v1/completions', completion(seconds))
        : fetch(`${target.url}/v1/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(completion(seconds)),
          }).then((response) => response.text())
    // The server may go away with requests running (a copy deleted, the stand-in stopped).
    sent.catch(() => undefined)
  }
}

export interface FollowsObservation {
  /** Where the load was sent, or null when the Service has no ready model server. */
  target: string | null
  value?: string
  currentReplicas?: number
  desiredReplicas?: number
  target_average?: string
  scalingActive?: { status: string; message?: string }
}

const QUEUED = 8

export const autoscalerFollows = check({
  id: 'autoscaler-follows',
  title: `the HPA reports ${METRIC} in its status and wants more replicas when requests wait`,
  needs: 'api',
  // Two or three of the HPA controller's periods: 15 s by default, 5 s on the lab's clusters.
  timeoutMs: 45_000,
  minimumTimeoutMs: 3 * HPA_SYNC_PERIOD_SECONDS * 1000,
  async act(env) {
    const target = await aModelServer(env)
    // Eight requests of 30 s on one server: two run, six wait for the first 30 s, four the next.
    if (target) fillQueue(env, target, QUEUED, 30)
  },
  async observe(env): Promise<FollowsObservation> {
    const target = await aModelServer(env)
    const hpa = await orNull(
      autoscalers(env).readNamespacedHorizontalPodAutoscaler({ name: HPA, namespace: env.namespace }),
    )
    const current = hpa?.status?.currentMetrics?.find((m) => m.type === 'External')?.external
    const active = hpa?.status?.conditions?.find((c) => c.type === 'ScalingActive')
    const spec = hpa?.spec?.metrics?.find((m) => m.type === 'External')?.external
    return {
      target: target ? ('pod' in target ? `pod ${target.pod}` : target.url) : null,
      ...(current?.current.averageValue ? { value: current.current.averageValue } : {}),
      ...(hpa?.status
        ? { currentReplicas: hpa.status.currentReplicas ?? 0, desiredReplicas: hpa.status.desiredReplicas }
        : {}),
      ...(spec?.target.averageValue ? { target_average: spec.target.averageValue } : {}),
      ...(active
        ? { scalingActive: { status: active.status, ...(active.message ? { message: active.message } : {}) } }
        : {}),
    }
  },
  evaluate({ target, value, currentReplicas, desiredReplicas, scalingActive }: FollowsObservation) {
    if (!target)
      return fail(
        `a ready model server behind the Service ${MODEL_SERVERS}`,
        'none',
        `${kubectl(`get endpointslices -l kubernetes.io/service-name=${MODEL_SERVERS}`)}`,
      )
    if (value === undefined)
      return fail(
        `${METRIC} in the HPA's status.currentMetrics`,
        scalingActive ? `ScalingActive ${scalingActive.status}: ${scalingActive.message ?? ''}` : 'no status yet',
        `the HPA controller reads the metric through the aggregator every sync period (--horizontal-pod-autoscaler-sync-period: 15 s by default, 5 s on the lab's clusters); see the check metric-served, and ${kubectl(`describe hpa ${HPA}`)}`,
      )
    if ((desiredReplicas ?? 0) < 2)
      return fail(
        `desiredReplicas of 2 or more with ${QUEUED - 2} requests waiting (ceil(waiting / 2 per replica))`,
        `desiredReplicas ${desiredReplicas} at ${currentReplicas} replicas, ${METRIC} ${value} per replica`,
        `the HPA wants ceil(current × value / target) replicas, unchanged while the ratio is within 10 % of 1; ${kubectl(`describe hpa ${HPA}`)}`,
      )
    return pass
  },
})

// ---------- the way out covers the longest request ----------

export interface GraceObservation {
  grace: number | null
  preStop: number
  /** The frontend's --default-deadline-ms, in seconds: no request lasts longer. */
  longestRequest: number | null
  drain: number
}

export const graceCoversDrain = check({
  id: 'grace-covers-drain',
  title: 'a model server may take preStop + the longest request + its drain timeout to stop',
  needs: 'api',
  timeoutMs: 10_000,
  async observe(env): Promise<GraceObservation> {
    const set = await orNull(env.kube.apps.readNamespacedStatefulSet({ name: MODEL_SERVERS, namespace: env.namespace }))
    const frontend = await orNull(env.kube.apps.readNamespacedDeployment({ name: FRONTEND, namespace: env.namespace }))
    const pod = set?.spec?.template.spec
    const server = pod?.containers.find((c) => c.name === 'model-server')
    const deadline = flag(frontend?.spec?.template.spec?.containers[0]?.args ?? [], '--default-deadline-ms')
    return {
      grace: pod ? (pod.terminationGracePeriodSeconds ?? 30) : null,
      preStop: server?.lifecycle?.preStop?.sleep?.seconds ?? 0,
      longestRequest: deadline ? Number(deadline) / 1000 : null,
      drain: Number(flag(server?.args ?? [], '--drain-timeout-ms') ?? 25_000) / 1000,
    }
  },
  evaluate({ grace, preStop, longestRequest, drain }: GraceObservation) {
    if (grace === null) return fail(`the StatefulSet ${MODEL_SERVERS}`, 'none', 'is 20-model-servers.yaml applied?')
    if (longestRequest === null)
      return fail(
        `the frontend's --default-deadline-ms`,
        'no frontend, or no deadline',
        'the deadline bounds the longest request; is 35-frontend.yaml applied?',
      )
    const needed = preStop + longestRequest + drain
    if (grace < needed)
      return fail(
        `terminationGracePeriodSeconds ≥ ${preStop} (preStop) + ${longestRequest} (longest request) + ${drain} (drain timeout) = ${needed}`,
        `${grace}`,
        'the kubelet kills the server when the grace period ends, whatever it still runs: requests in flight at a scale-down are lost',
      )
    return pass
  },
})

// ---------- the variants ----------

export interface VariantsObservation {
  files: number
  refused: string[]
}

export const variantsAdmitted = check({
  id: 'variants-admitted',
  title:
    "the variants (KEDA's ScaledObject, an HPA on a LeaderWorkerSet) are admitted by the API server, by their CRDs' schemas",
  needs: 'api',
  timeoutMs: 60_000,
  async act(env) {
    await installKedaCrds(env.kube, () => {})
  },
  async observe(env): Promise<VariantsObservation> {
    const objects = inNamespace(await readManifests(variantsDir), STEP_NAMESPACE, env.namespace)
    const refused: string[] = []
    for (const object of objects)
      await apply(env.kube, [object as KubernetesObject], { dryRun: true }).catch((error: Error) =>
        refused.push(`${object.kind}/${object.metadata?.name}: ${error.message}`),
      )
    return { files: objects.length, refused }
  },
  evaluate({ files, refused }: VariantsObservation) {
    if (files === 0)
      return fail('the objects of variants/', 'none', 'the variants live in steps/07-autoscaling/variants/')
    if (refused.length > 0)
      return fail(
        'every variant admitted (server-side dry run)',
        list(refused),
        "KEDA's ScaledObject is validated by its CRD's schema (keda.sh/v1alpha1): its trigger types, metricType and fields",
      )
    return pass
  },
})

// ---------- least privilege ----------

export const adapterMayDo: readonly Access[] = [
  { verb: 'create', group: 'authorization.k8s.io', resource: 'subjectaccessreviews', namespace: ALL },
  {
    verb: 'get',
    group: '',
    resource: 'configmaps',
    name: 'extension-apiserver-authentication',
    namespace: 'kube-system',
  },
  { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices' },
  { verb: 'get', group: '', resource: 'secrets', name: 'metrics-adapter-tls' },
  { verb: 'update', group: '', resource: 'secrets', name: 'metrics-adapter-tls' },
  { verb: 'create', group: '', resource: 'secrets' },
  { verb: 'patch', group: 'apiregistration.k8s.io', resource: 'apiservices', name: API_SERVICE, namespace: ALL },
]
export const adapterMayNotDo: readonly Access[] = [
  { verb: 'get', group: '', resource: 'secrets', name: 'model-group' },
  { verb: 'list', group: '', resource: 'secrets' },
  { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices', namespace: 'kube-system' },
  { verb: 'patch', group: 'apiregistration.k8s.io', resource: 'apiservices', name: 'v1.apps', namespace: ALL },
  { verb: 'create', group: 'apiregistration.k8s.io', resource: 'apiservices', namespace: ALL },
  { verb: 'list', group: '', resource: 'pods' },
  { verb: 'list', group: '', resource: 'configmaps', namespace: 'kube-system' },
  { verb: 'get', group: '', resource: 'configmaps', name: 'coredns', namespace: 'kube-system' },
  { verb: 'patch', group: 'apps', resource: 'statefulsets' },
]

export const leastPrivilege = check({
  id: 'least-privilege',
  title: 'the metrics adapter may do what it needs and nothing more',
  needs: 'api',
  timeoutMs: 10_000,
  async observe(env): Promise<{ answers: Answered<Access>[] }> {
    return { answers: await askAccess(env, ADAPTER, [...adapterMayDo, ...adapterMayNotDo]) }
  },
  evaluate({ answers }: { answers: Answered<Access>[] }) {
    return judgeLeastPrivilege(answers, adapterMayDo, adapterMayNotDo, {
      refused:
        `40-metrics-adapter-rbac.yaml grants them: system:auth-delegator, ` +
        `the Role ${ADAPTER} and the ClusterRole serving-lab-metrics-adapter; ${kubectl(`describe role,rolebinding ${ADAPTER}`)}`,
      granted:
        'the adapter reads EndpointSlices and its own Secret and APIService by name: a rule without resourceNames or a broad ClusterRole grants more; the reason in brackets names the rule',
    })
  },
})

// ---------- scaling with real pods, and no request lost ----------

/** A client that sends a short request through the frontend every second, first in its queue, and counts the failures. */
class SteadyClient {
  sent = 0
  answered = 0
  failed: string[] = []
  /** When the burst that should scale the model servers up was sent. */
  burstAt = 0
  private timer: NodeJS.Timeout | undefined
  start(env: CheckEnv) {
    if (this.timer) return
    this.timer = setInterval(() => {
      this.sent++
      void proxyPost(env.kube, env.namespace, { service: `${FRONTEND}:http` }, '/v1/completions', completion(1), {
        'x-serving-lab-priority': '0',
      }).then((answer) => {
        this.answered++
        if (answer.status !== 200) this.failed.push(`${answer.status} ${answer.body.slice(0, 120)}`)
      })
    }, 1000)
    // A check that times out must not keep the run alive.
    this.timer.unref()
  }
  stop() {
    clearInterval(this.timer)
    this.timer = undefined
  }
}
const steady = new SteadyClient()

/** Replicas of the StatefulSet: wanted, and Ready. */
async function replicas(env: CheckEnv): Promise<{ wanted: number; ready: number } | null> {
  const set = await orNull(env.kube.apps.readNamespacedStatefulSet({ name: MODEL_SERVERS, namespace: env.namespace }))
  return set ? { wanted: set.spec?.replicas ?? 1, ready: set.status?.readyReplicas ?? 0 } : null
}

export interface ScaleObservation {
  replicas: { wanted: number; ready: number } | null
  /** Seconds since the burst was sent. */
  sinceBurst: number
  sent: number
  answered: number
  failed: string[]
}

const scaleObservation = async (env: CheckEnv): Promise<ScaleObservation> => ({
  replicas: await replicas(env),
  sinceBurst: Math.round((Date.now() - steady.burstAt) / 1000),
  sent: steady.sent,
  answered: steady.answered,
  failed: [...steady.failed],
})

export const loadScalesUp = check({
  id: 'load-scales-up',
  title: 'load through the frontend raises the model servers to 2 or more Ready replicas',
  needs: 'pods',
  timeoutMs: 180_000,
  async act(env) {
    steady.start(env)
    steady.burstAt = Date.now()
    // A burst of requests through the frontend, behind the steady client's in its queue
    // (priority 3): they wait there and in the servers, within the frontend's 20 s deadline or not.
    for (let i = 0; i < 12; i++)
      void proxyPost(
        env.kube,
        env.namespace,
        { service: `${FRONTEND}:http` },
        '/v1/completions',
        completion(BURST_SECONDS),
        {
          'x-serving-lab-priority': '3',
        },
      ).catch(() => undefined)
  },
  observe: scaleObservation,
  evaluate({ replicas: seen, sinceBurst, failed }: ScaleObservation) {
    if (!seen) return fail(`the StatefulSet ${MODEL_SERVERS}`, 'none', 'is 20-model-servers.yaml applied?')
    if (failed.length > 0)
      return fail('no failed request of the steady client', list(failed), 'see the check quiet-scales-down')
    if (seen.ready < 2)
      return fail(
        '2 or more Ready replicas under load',
        `${seen.ready} Ready of ${seen.wanted}`,
        `the HPA raises spec.replicas when ${METRIC} per replica is above its target; ${kubectl(`describe hpa ${HPA}`)}`,
      )
    return passWith(`${seen.ready} Ready ${sinceBurst} s after the burst`)
  },
})

export const quietScalesDown = check({
  id: 'quiet-scales-down',
  title: 'once the load ends the model servers go back to 1 replica, and the steady client saw no failed request',
  needs: 'pods',
  // The burst's last requests, the 60 s window, 30 s per replica removed, a 50 s grace period.
  timeoutMs: 420_000,
  async observe(env): Promise<ScaleObservation> {
    const observation = await scaleObservation(env)
    if (observation.replicas?.wanted === 1 && observation.replicas.ready === 1) steady.stop()
    return observation
  },
  evaluate({ replicas: seen, sinceBurst, sent, answered, failed }: ScaleObservation) {
    if (!seen) return fail(`the StatefulSet ${MODEL_SERVERS}`, 'none', 'is 20-model-servers.yaml applied?')
    if (failed.length > 0)
      return fail(
        `0 failed of ${sent} steady requests`,
        `${failed.length} failed: ${list(failed.slice(0, 3))}`,
        'a replica removed must stop getting requests first (preStop), then finish what it runs (drain) within terminationGracePeriodSeconds',
      )
    if (seen.wanted !== 1 || seen.ready !== 1)
      return fail(
        '1 replica once the queue is empty (after the scale-down window)',
        `${seen.wanted} wanted, ${seen.ready} Ready`,
        `the HPA lowers replicas after behavior.scaleDown.stabilizationWindowSeconds, one per policy period; ${kubectl(`describe hpa ${HPA}`)}`,
      )
    return passWith(
      `1 replica ${sinceBurst} s after the burst; steady client: ${sent} sent, ${answered} answered, 0 failed`,
    )
  },
})

// autoscaler-follows comes last: where containers run, the queue it fills scales the model servers
// up, and load-scales-up must start from one replica to show how long a scale-up takes.
export const checks: Check[] = [
  metricServed,
  autoscalerDeclared,
  graceCoversDrain,
  leastPrivilege,
  variantsAdmitted,
  loadScalesUp,
  quietScalesDown,
  autoscalerFollows,
]

if (isMain(import.meta.url)) await runStandalone(import.meta.url, checks)
