// The objects a kwok cluster starts with: the topology's nodes for KWOK to simulate, and a default StorageClass.
import type { KubernetesObject } from '@kubernetes/client-node'
import { KWOK_NODE_ANNOTATION } from '../../kube.ts'
import { partOfLabel } from '../../project.ts'
import { GPU_RESOURCE, type FleetNode } from '../topology.ts'

/**
 * A Node object for KWOK to simulate: KWOK keeps the capacity given here, fills in the rest of
 * the status (conditions, addresses) and keeps it alive with leases.
 */
export function kwokNode(node: FleetNode): KubernetesObject {
  const resources = { cpu: node.cpu, memory: node.memory, pods: '110', [GPU_RESOURCE]: String(node.gpus) }
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node.name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        ...partOfLabel,
        ...node.labels,
        'kubernetes.io/hostname': node.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/worker': '',
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      capacity: resources,
      allocatable: resources,
      nodeInfo: { kubeletVersion: 'fake', architecture: 'amd64', operatingSystem: 'linux' },
    },
  } as KubernetesObject
}

/**
 * kind's default StorageClass is `standard`; the kwok cluster gets one by the same name, served
 * by kube-controller-manager's built-in host-path provisioner (a testing feature: it makes
 * directories under /tmp on the machine running the controller manager).
 */
export const standardStorageClass: KubernetesObject = {
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: {
    name: 'standard',
    labels: { ...partOfLabel },
    annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
  },
  provisioner: 'kubernetes.io/host-path',
  reclaimPolicy: 'Delete',
  volumeBindingMode: 'Immediate',
} as KubernetesObject
