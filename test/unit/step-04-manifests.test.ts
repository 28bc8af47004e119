// Step 04's manifests on their own: the model servers are step 02's, unchanged; the router's
// flags are ones the router itself accepts, and name the Service and port that exist; its
// account may read EndpointSlices and nothing else; its budget lets an eviction through.
import { join } from 'node:path'
import type {
  KubernetesObject,
  V1Deployment,
  V1PodDisruptionBudget,
  V1Role,
  V1RoleBinding,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node'
import { beforeAll, describe, expect, it } from 'vitest'
import { fleetNodes, GPU_RESOURCE, loadTopology } from '../../scripts/lib/cluster/topology.ts'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { stepsDir } from '../../scripts/lib/steps.ts'
import { loadConfig } from '../../workloads/router/config.ts'

const NAMESPACE = 'lab-04'
let objects: KubernetesObject[] = []
const find = <T>(kind: string, name: string): T => {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name)
  if (!found) throw new Error(`steps/04-router has no ${kind} ${name}`)
  return found as T
}

beforeAll(async () => {
  objects = await readManifests(join(stepsDir, '04-router'))
})

describe("step 04's model servers are step 02's", () => {
  /**
   * An object with its namespace taken out, and the failure-injection switch step 04's checks
   * need: the only things a step's copy may change.
   */
  const comparable = (object: KubernetesObject) => {
    const copy = structuredClone(object) as KubernetesObject & {
      spec?: { template?: { spec?: { containers?: { env?: { name: string }[] }[] } } }
    }
    delete copy.metadata?.namespace
    for (const container of copy.spec?.template?.spec?.containers ?? []) {
      container.env = container.env?.filter((variable) => variable.name !== 'ENABLE_FAILURE_INJECTION')
    }
    return copy
  }
  const ofStep02 = async (kind: string) =>
    (await readManifests(join(stepsDir, '02-headless-service'))).find((o) => o.kind === kind)!

  it('the headless Service differs only in its namespace', async () => {
    expect(comparable(find('Service', 'llama-3-70b'))).toEqual(comparable(await ofStep02('Service')))
  })

  it('turns failure injection on, which its checks use', () => {
    const set = find<{ spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } }>(
      'StatefulSet',
      'llama-3-70b',
    )
    expect(set.spec.template.spec.containers[0]!.env).toContainEqual({
      name: 'ENABLE_FAILURE_INJECTION',
      value: 'true',
    })
  })

  it('the StatefulSet differs only in its namespace and failure injection', async () => {
    expect(comparable(find('StatefulSet', 'llama-3-70b'))).toEqual(comparable(await ofStep02('StatefulSet')))
  })

  it('the groups fit the lab’s GPUs, with none for the router', async () => {
    const gpus = (object: KubernetesObject) => {
      const spec = object as KubernetesObject & {
        spec: {
          replicas?: number
          template: { spec: { containers: { resources?: { limits?: Record<string, unknown> } }[] } }
        }
      }
      return (
        (spec.spec.replicas ?? 1) *
        spec.spec.template.spec.containers.reduce((sum, c) => sum + Number(c.resources?.limits?.[GPU_RESOURCE] ?? 0), 0)
      )
    }
    const capacity = fleetNodes(await loadTopology('lab')).reduce((sum, node) => sum + node.gpus, 0)
    expect(gpus(find('StatefulSet', 'llama-3-70b'))).toBe(6)
    expect(gpus(find('Deployment', 'router'))).toBe(0)
    expect(capacity).toBe(8)
  })
})

describe("the router's Deployment", () => {
  const deployment = () => find<V1Deployment>('Deployment', 'router')
  const container = () => deployment().spec!.template.spec!.containers[0]!

  it('passes flags the router accepts, with its namespace from the downward API', () => {
    const namespaceFrom = container().env?.find((v) => v.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath
    expect(namespaceFrom).toBe('metadata.namespace')
    expect(container().command).toEqual(['node', '/app/router.mjs'])
    const config = loadConfig(container().args!, { POD_NAMESPACE: NAMESPACE })
    expect(config).toMatchObject({
      port: 8080,
      service: 'llama-3-70b',
      namespace: NAMESPACE,
      targetPort: 'http',
      policy: 'least-outstanding',
      healthPath: '/ready',
      backends: [],
    })
  })

  it('names a Service of the step, and a port that Service has by that name, on the model server’s port', () => {
    const config = loadConfig(container().args!, { POD_NAMESPACE: NAMESPACE })
    const service = find<V1Service>('Service', config.service)
    const port = service.spec!.ports!.find((p) => p.name === config.targetPort)
    expect(port?.port).toBe(8000)
  })

  it('listens on the port its probes and its Service use', () => {
    const ports = container().ports!
    expect(ports).toEqual([{ name: 'http', containerPort: 8080 }])
    expect(container().readinessProbe?.httpGet).toEqual({ path: '/ready', port: 'http' })
    expect(container().livenessProbe?.httpGet).toEqual({ path: '/health', port: 'http' })
    const service = find<V1Service>('Service', 'router')
    expect(service.spec?.type).toBe('ClusterIP')
    expect(service.spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }])
    expect(service.spec?.selector).toEqual(deployment().spec!.selector.matchLabels)
  })

  it('runs two replicas, spread over nodes, never fewer during an update', () => {
    const spec = deployment().spec!
    expect(spec.replicas).toBe(2)
    expect(spec.strategy?.rollingUpdate?.maxUnavailable).toBe(0)
    const spreads = spec.template.spec!.topologySpreadConstraints!
    expect(spreads).toHaveLength(1)
    expect(spreads[0]).toMatchObject({
      topologyKey: 'kubernetes.io/hostname',
      maxSkew: 1,
      labelSelector: { matchLabels: spec.selector.matchLabels },
    })
  })

  it('waits before SIGTERM, within its grace period', () => {
    const pod = deployment().spec!.template.spec!
    const sleep = container().lifecycle?.preStop?.sleep?.seconds ?? 0
    expect(sleep).toBeGreaterThan(0)
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(sleep)
  })
})

describe("the router's account", () => {
  it('gets a token only in the router’s pods', () => {
    expect(find<V1ServiceAccount>('ServiceAccount', 'router').automountServiceAccountToken).toBe(false)
    const pod = find<V1Deployment>('Deployment', 'router').spec!.template.spec!
    expect(pod.serviceAccountName).toBe('router')
    expect(pod.automountServiceAccountToken).toBe(true)
  })

  it('is bound to one Role that reads EndpointSlices, and to nothing cluster-wide', () => {
    expect(objects.filter((o) => o.kind?.startsWith('Cluster'))).toEqual([])
    expect(find<V1Role>('Role', 'router').rules).toEqual([
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
    ])
    const binding = find<V1RoleBinding>('RoleBinding', 'router')
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'router' })
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'router', namespace: NAMESPACE }])
  })
})

describe("the router's disruption budget", () => {
  it('covers the router pods and lets one of the two be evicted', () => {
    const pdb = find<V1PodDisruptionBudget>('PodDisruptionBudget', 'router')
    const deployment = find<V1Deployment>('Deployment', 'router')
    expect(pdb.spec?.selector?.matchLabels).toEqual(deployment.spec!.selector.matchLabels)
    expect(pdb.spec?.minAvailable).toBe(1)
    expect(pdb.spec?.minAvailable).toBeLessThan(deployment.spec!.replicas!)
    expect(pdb.spec?.maxUnavailable).toBeUndefined()
  })
})
