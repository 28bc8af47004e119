import type { KubernetesObject } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import type { Discovery } from '../../scripts/lib/api-discovery.ts'
import { cleanObject, inApplyOrder, skippedObjectReason, skippedTypeReason } from '../../scripts/lib/backup-clean.ts'
import { formatBackup, parseBackup, type BackupHeader } from '../../scripts/lib/backup.ts'
import { EnvironmentError } from '../../scripts/lib/errors.ts'
import { checkServed } from '../../scripts/lib/restore.ts'

const serverMetadata = {
  uid: '6f1c2a4e-0000-4000-8000-000000000001',
  resourceVersion: '4242',
  generation: 3,
  creationTimestamp: '2026-12-01T10:00:00Z',
  managedFields: [{ manager: 'kube-controller-manager', operation: 'Update' }],
}

const object = (kind: string, name: string, rest: Record<string, unknown> = {}): KubernetesObject =>
  ({
    apiVersion: 'v1',
    kind,
    metadata: { name, namespace: 'lab-05', ...serverMetadata },
    ...rest,
  }) as unknown as KubernetesObject

const none = { leases: new Set<string>() }

describe('cleanObject', () => {
  it('drops what the API server writes, and keeps labels, annotations of the learner and the spec', () => {
    const config = object('ConfigMap', 'serving-config', { data: { 'config.json': '{}' } })
    config.metadata!.labels = { 'app.kubernetes.io/part-of': 'multi-node-serving-lab' }
    config.metadata!.annotations = {
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      'serving-lab.io/note': 'kept',
    }
    config.metadata!.ownerReferences = [{ apiVersion: 'v1', kind: 'Thing', name: 'x', uid: 'u' }]
    expect(cleanObject(config)).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'serving-config',
        namespace: 'lab-05',
        labels: { 'app.kubernetes.io/part-of': 'multi-node-serving-lab' },
        annotations: { 'serving-lab.io/note': 'kept' },
      },
      data: { 'config.json': '{}' },
    })
    expect(config.metadata!.uid).toBe(serverMetadata.uid)
  })

  it('drops status and a Deployment’s revision annotation, and leaves the annotations out once empty', () => {
    const deployment = object('Deployment', 'router', {
      spec: { replicas: 2 },
      status: { readyReplicas: 2 },
    })
    deployment.metadata!.annotations = { 'deployment.kubernetes.io/revision': '3' }
    const cleaned = cleanObject(deployment) as KubernetesObject & Record<string, unknown>
    expect(cleaned.status).toBeUndefined()
    expect(cleaned.metadata!.annotations).toBeUndefined()
    expect(cleaned.spec).toEqual({ replicas: 2 })
  })

  it('drops a Service’s allocated cluster IPs and node ports, but keeps a headless Service’s None', () => {
    const spec = (clusterIP: string) => ({
      spec: {
        type: 'NodePort',
        clusterIP,
        clusterIPs: [clusterIP],
        healthCheckNodePort: 31000,
        ports: [{ name: 'http', port: 80, nodePort: 30080 }],
      },
    })
    expect(cleanObject(object('Service', 'router', spec('10.96.0.12')))).toMatchObject({
      spec: { type: 'NodePort', ports: [{ name: 'http', port: 80 }] },
    })
    const cleaned = cleanObject(object('Service', 'router', spec('10.96.0.12'))) as { spec: Record<string, unknown> }
    expect(Object.keys(cleaned.spec).sort()).toEqual(['ports', 'type'])
    const headless = cleanObject(object('Service', 'llama', spec('None'))) as { spec: Record<string, unknown> }
    expect(headless.spec.clusterIP).toBe('None')
    expect(headless.spec.clusterIPs).toEqual(['None'])
  })

  it('drops a claim’s bound volume and the annotations about its binding', () => {
    const claim = object('PersistentVolumeClaim', 'model-cache-llama-0', {
      spec: { volumeName: 'pvc-123', storageClassName: 'standard', resources: { requests: { storage: '1Gi' } } },
    })
    claim.metadata!.annotations = {
      'pv.kubernetes.io/bind-completed': 'yes',
      'pv.kubernetes.io/bound-by-controller': 'yes',
      'volume.beta.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
      'volume.kubernetes.io/selected-node': 'lab-worker',
    }
    const cleaned = cleanObject(claim) as KubernetesObject & { spec: Record<string, unknown> }
    expect(cleaned.spec).toEqual({ storageClassName: 'standard', resources: { requests: { storage: '1Gi' } } })
    expect(cleaned.metadata!.annotations).toBeUndefined()
  })

  it('keeps of a Lease only its transitions count, the fencing token', () => {
    const lease = object('Lease', 'coordinator', {
      apiVersion: 'coordination.k8s.io/v1',
      spec: { holderIdentity: 'coordinator-abc', leaseDurationSeconds: 15, renewTime: 'x', leaseTransitions: 4 },
    })
    expect((cleanObject(lease) as { spec: unknown }).spec).toEqual({ leaseTransitions: 4 })
  })

  it('drops a Namespace’s name label and finalizers, which the API server sets', () => {
    const ns = object('Namespace', 'lab-05', { spec: { finalizers: ['kubernetes'] } })
    ns.metadata!.labels = {
      'kubernetes.io/metadata.name': 'lab-05',
      'pod-security.kubernetes.io/enforce': 'restricted',
    }
    const cleaned = cleanObject(ns) as KubernetesObject & Record<string, unknown>
    expect(cleaned.spec).toBeUndefined()
    expect(cleaned.metadata!.labels).toEqual({ 'pod-security.kubernetes.io/enforce': 'restricted' })
  })

  it('takes a lone pod off its node and out of the token volume the admission plugin added', () => {
    const pod = object('Pod', 'probe', {
      spec: {
        nodeName: 'lab-worker',
        volumes: [{ name: 'kube-api-access-x7k2p', projected: {} }, { name: 'cache' }],
        containers: [
          {
            name: 'probe',
            volumeMounts: [
              { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
              { name: 'cache', mountPath: '/cache' },
            ],
          },
        ],
      },
    })
    expect((cleanObject(pod) as { spec: unknown }).spec).toEqual({
      volumes: [{ name: 'cache' }],
      containers: [{ name: 'probe', volumeMounts: [{ name: 'cache', mountPath: '/cache' }] }],
    })
  })
})

describe('what a backup leaves out', () => {
  it('skips the types the cluster writes itself, and lists the rest', () => {
    for (const [group, resource] of [
      ['', 'events'],
      ['events.k8s.io', 'events'],
      ['', 'endpoints'],
      ['discovery.k8s.io', 'endpointslices'],
      ['apps', 'controllerrevisions'],
      ['metrics.k8s.io', 'pods'],
      ['external.metrics.k8s.io', 'externalmetrics'],
    ])
      expect(skippedTypeReason({ group: group!, resource: resource! }), `${group}/${resource}`).toBeDefined()
    for (const [group, resource] of [
      ['', 'configmaps'],
      ['', 'secrets'],
      ['', 'pods'],
      ['apps', 'replicasets'],
      ['coordination.k8s.io', 'leases'],
      ['scheduling.x-k8s.io', 'podgroups'],
    ])
      expect(skippedTypeReason({ group: group!, resource: resource! }), `${group}/${resource}`).toBeUndefined()
  })

  it('skips what a controller made (pods of a ReplicaSet, ReplicaSets of a Deployment), not a lone pod', () => {
    const owned = (kind: string, ownerKind: string) => {
      const o = object(kind, `${kind.toLowerCase()}-1`)
      o.metadata!.ownerReferences = [
        { apiVersion: 'apps/v1', kind: ownerKind, name: 'router', uid: 'u', controller: true },
      ]
      return o
    }
    expect(skippedObjectReason(owned('Pod', 'ReplicaSet'), none)).toMatch(/controller ReplicaSet\/router/)
    expect(skippedObjectReason(owned('ReplicaSet', 'Deployment'), none)).toMatch(/controller Deployment\/router/)
    expect(skippedObjectReason(object('Pod', 'probe'), none)).toBeUndefined()
  })

  it('skips Leases the step does not declare, the default ServiceAccount, the CA ConfigMap and token Secrets', () => {
    const lease = object('Lease', 'coordinator')
    expect(skippedObjectReason(lease, none)).toMatch(/leader election/)
    expect(skippedObjectReason(lease, { leases: new Set(['coordinator']) })).toBeUndefined()
    expect(skippedObjectReason(object('ServiceAccount', 'default'), none)).toBeDefined()
    expect(skippedObjectReason(object('ServiceAccount', 'router'), none)).toBeUndefined()
    expect(skippedObjectReason(object('ConfigMap', 'kube-root-ca.crt'), none)).toBeDefined()
    expect(
      skippedObjectReason(object('Secret', 't', { type: 'kubernetes.io/service-account-token' }), none),
    ).toBeDefined()
    expect(skippedObjectReason(object('Secret', 'llama-3-70b-group', { type: 'Opaque' }), none)).toBeUndefined()
  })
})

describe('inApplyOrder', () => {
  it('puts the namespace and what others refer to first, workloads and the APIService last', () => {
    const kinds = [
      'APIService',
      'Deployment',
      'PodGroup',
      'Service',
      'RoleBinding',
      'Secret',
      'Namespace',
      'ClusterRole',
    ]
    const sorted = inApplyOrder(kinds.map((kind) => object(kind, kind.toLowerCase()))).map((o) => o.kind)
    expect(sorted).toEqual([
      'Namespace',
      'ClusterRole',
      'Secret',
      'RoleBinding',
      'Service',
      'PodGroup',
      'Deployment',
      'APIService',
    ])
  })
})

describe('the backup file', () => {
  const header: BackupHeader = {
    version: 1,
    step: '05',
    namespace: 'lab-05',
    takenAt: '2026-12-02T08:00:00.000Z',
    context: 'kwok-bk',
    crds: [],
  }
  const objects = [cleanObject(object('Secret', 'llama-3-70b-group', { data: { secret: 'c2VjcmV0' } }))]

  it('reads back what it was written with, and says that it holds Secrets', () => {
    const text = formatBackup({ header, objects })
    expect(text).toMatch(/Holds 1 Secret/)
    expect(parseBackup(text, 'f.yaml')).toEqual({ header, objects })
  })

  it('refuses a file that is not a backup of the lab, naming it', () => {
    expect(() => parseBackup('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n', 'cm.yaml')).toThrow(
      /cm.yaml is not a backup of the lab/,
    )
    expect(() => parseBackup('apiVersion: v1\n', 'x.yaml')).toThrow(EnvironmentError)
  })
})

describe('checkServed', () => {
  const discovery: Discovery = {
    types: [{ group: '', apiVersion: 'v1', kind: 'Secret', resource: 'secrets', namespaced: true, verbs: ['list'] }],
    unavailable: [],
  }
  const podGroup = {
    apiVersion: 'scheduling.x-k8s.io/v1alpha1',
    kind: 'PodGroup',
    metadata: { name: 'llama-a', namespace: 'lab-06' },
  }

  it('passes when the cluster serves every kind', () => {
    expect(() => checkServed(discovery, [object('Secret', 's')], [], 'kwok-old')).not.toThrow()
  })

  it('names the missing CRD and the commands that install it', () => {
    expect(() => checkServed(discovery, [podGroup], ['podgroups.scheduling.x-k8s.io'], 'kwok-old')).toThrow(
      /lacks the CustomResourceDefinition podgroups\.scheduling\.x-k8s\.io.*npm run step 06.*kubectl --context kwok-old get crd podgroups\.scheduling\.x-k8s\.io/,
    )
  })
})
