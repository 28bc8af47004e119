// The kwok cluster is a real control plane: admission, RBAC, controllers and optimistic
// concurrency behave as on any cluster. Each test works in its own namespace.
import {
  AuthorizationV1Api,
  AutoscalingV2Api,
  CoordinationV1Api,
  DiscoveryV1Api,
  PolicyV1Api,
  type KubernetesObject,
} from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { GPU_RESOURCE, LABELS } from '../../scripts/lib/cluster/topology.ts'
import { apply, connect, KWOK_NODE_ANNOTATION } from '../../scripts/lib/kube.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'
import { describeNamespace } from '../../scripts/lib/diagnostics.ts'
import { pollUntil } from '../../scripts/lib/poll.ts'

const kube = connect(inject('kubeContext'))
const namespace = 'kwok-behaviour'
const quiet = () => {}

/** The observation once it holds, or the last one when the time is up (the assertions then say what was seen). */
const eventually = async <T>(observe: () => Promise<T>, holds: (value: T) => boolean, timeoutMs = 30_000): Promise<T> =>
  (await pollUntil(observe, holds, { timeoutMs, intervalMs: 250 })).value

const restrictedPod = (name: string, labels: Record<string, string>): KubernetesObject =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: 'multi-node-serving-lab/workloads:0.1.0',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  }) as KubernetesObject

beforeAll(async () => {
  await deleteNamespaces(kube, [namespace], quiet)
  await apply(kube, [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    } as KubernetesObject,
  ])
})
afterAll(async () => deleteNamespaces(kube, [namespace], quiet))

describe('the kwok cluster', () => {
  it('has the topology’s nodes, simulated by KWOK, with their GPUs and labels', async () => {
    const nodes = (await kube.core.listNode()).items
    expect(nodes.map((n) => n.metadata!.name).sort()).toEqual(['gpu-0', 'gpu-1'])
    for (const node of nodes) {
      expect(node.metadata!.annotations![KWOK_NODE_ANNOTATION]).toBe('fake')
      expect(node.status!.allocatable![GPU_RESOURCE]).toBe('4')
      expect(node.metadata!.labels![LABELS.gpuProduct]).toBe('NVIDIA-H100-80GB-HBM3')
      expect(node.status!.conditions!.find((c) => c.type === 'Ready')!.status).toBe('True')
    }
  })

  it('Pod Security admission rejects a privileged pod in a restricted namespace', async () => {
    const pod = restrictedPod('privileged', {}) as {
      spec: { containers: { securityContext: object }[] }
    } & KubernetesObject
    pod.spec.containers[0]!.securityContext = { privileged: true }
    await expect(apply(kube, [pod])).rejects.toThrow(/violates PodSecurity "restricted:latest"/)
  })

  it('server-side apply refuses a misspelt field, naming it, instead of dropping it', async () => {
    const typo = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'typo', namespace },
      dataa: { key: 'value' },
    } as KubernetesObject
    await expect(apply(kube, [typo])).rejects.toThrow(/\.dataa: field not declared in schema/)
  })

  it('RBAC denies a service account what no role grants it', async () => {
    const review = await kube.config.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
      body: {
        spec: {
          user: `system:serviceaccount:${namespace}:default`,
          resourceAttributes: { namespace, verb: 'list', resource: 'pods' },
        },
      },
    })
    expect(review.status?.allowed).toBe(false)
  })

  it('a Lease update with a stale resourceVersion is refused with 409 Conflict', async () => {
    const leases = kube.config.makeApiClient(CoordinationV1Api)
    const created = await leases.createNamespacedLease({
      namespace,
      body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'rank-0', leaseDurationSeconds: 15 } },
    })
    await leases.replaceNamespacedLease({
      name: 'leader',
      namespace,
      body: { ...created, spec: { ...created.spec, holderIdentity: 'rank-1' } },
    })
    const stale = leases.replaceNamespacedLease({
      name: 'leader',
      namespace,
      body: { ...created, spec: { ...created.spec, holderIdentity: 'rank-2' } },
    })
    await expect(stale).rejects.toMatchObject({ code: 409 })
  })

  it('pods become Running and Ready with IPs, and the EndpointSlice controller lists them', async () => {
    await apply(kube, [
      restrictedPod('web-0', { app: 'web' }),
      restrictedPod('web-1', { app: 'web' }),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace },
        spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
      } as KubernetesObject,
    ])
    const pods = await eventually(
      async () => (await kube.core.listNamespacedPod({ namespace, labelSelector: 'app=web' })).items,
      (items) =>
        items.length === 2 &&
        items.every(
          (p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ),
    )
    expect(pods.map((p) => p.status?.phase)).toEqual(['Running', 'Running'])
    const slices = await eventually(
      async () =>
        (
          await kube.config
            .makeApiClient(DiscoveryV1Api)
            .listNamespacedEndpointSlice({ namespace, labelSelector: 'kubernetes.io/service-name=web' })
        ).items,
      (items) => items.flatMap((s) => s.endpoints ?? []).length === 2,
    )
    const addresses = slices
      .flatMap((s) => s.endpoints ?? [])
      .flatMap((e) => e.addresses)
      .sort()
    expect(addresses).toEqual(pods.map((p) => p.status!.podIP!).sort())
  })

  it('the disruption controller computes a PodDisruptionBudget’s status', async () => {
    await apply(kube, [
      {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'web', namespace },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
      } as KubernetesObject,
    ])
    const pdb = await eventually(
      () => kube.config.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'web', namespace }),
      (p) => p.status?.expectedPods === 2,
    )
    expect(pdb.status).toMatchObject({ expectedPods: 2, currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1 })
  })

  it('an autoscaling/v2 HPA on a custom metric is admitted as written', async () => {
    await apply(kube, [
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'queue', namespace },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          minReplicas: 1,
          maxReplicas: 4,
          metrics: [
            {
              type: 'Pods',
              pods: {
                metric: { name: 'vllm:num_requests_waiting' },
                target: { type: 'AverageValue', averageValue: '5' },
              },
            },
          ],
        },
      } as KubernetesObject,
    ])
    const hpa = await kube.config
      .makeApiClient(AutoscalingV2Api)
      .readNamespacedHorizontalPodAutoscaler({ name: 'queue', namespace })
    expect(hpa.spec?.metrics?.[0]?.pods?.metric.name).toBe('vllm:num_requests_waiting')
  })
  it('describes a namespace for a failed step: each pod, the warning events, and why a log is missing', async () => {
    await apply(kube, [restrictedPod('described', { 'app.kubernetes.io/name': 'described' })])
    await kube.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name: 'described.rank-missing', namespace },
        involvedObject: { kind: 'Pod', name: 'described', namespace },
        type: 'Warning',
        reason: 'RankMissing',
        message: 'node rank 1 never joined',
        lastTimestamp: new Date(),
      },
    })
    const lines = await describeNamespace(kube, namespace)
    expect(lines).toContainEqual(
      expect.stringMatching(/^ {2}described (Pending|Running), ready \d\/1, restarts 0, node /),
    )
    expect(lines).toContain('  Pod/described: RankMissing: node rank 1 never joined')
    // kwok runs no containers, so the API server cannot fetch a log: the line says why instead.
    const log = lines.indexOf('last 12 log lines of described/app:')
    expect(log).toBeGreaterThan(0)
    expect(lines[log + 1]).toMatch(/^ {2}\(no log: /)
  })
})
