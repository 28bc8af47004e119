import { stringify } from 'yaml'
import { EnvironmentError } from '../../errors.ts'
import { controllerManagerFlags } from '../controller-manager.ts'
import { MAX_LAPTOP_NODES, type FleetNode } from '../topology.ts'
import { SERVICE_SUBNET } from './service-network.ts'

/**
 * A node image built for kind v0.33.0, pinned by digest as kind's release notes require; the
 * kwok provider runs the same Kubernetes minor.
 */
export const KIND_VERSION = 'v0.33.0'
export const KIND_NODE_IMAGE =
  'kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d'

export interface KindConfigOptions {
  /** The node image every node runs: the pinned kindest/node, or one built here. */
  image: string
  /** Whether the host has NVIDIA GPUs to hand to the workers. */
  gpuPassthrough: boolean
}

/**
 * The kind cluster: one control plane and a worker per node of the topology, carrying its
 * labels. With NVIDIA GPUs on the host, each worker gets the nvkind-style mount that lets the
 * NVIDIA container runtime hand it every GPU (`/dev/null` at
 * /var/run/nvidia-container-devices/all); without, GPU capacity is advertised through the node
 * status after creation.
 */
export function kindConfig(cluster: string, nodes: FleetNode[], { image, gpuPassthrough }: KindConfigOptions): string {
  if (nodes.length > MAX_LAPTOP_NODES) {
    throw new EnvironmentError(
      `this topology has ${nodes.length} nodes; kind runs at most ${MAX_LAPTOP_NODES} worker containers on a laptop. Use --provider kwok for large fleets.`,
    )
  }
  const workers = nodes.map((node) => ({
    role: 'worker',
    image,
    labels: node.labels,
    ...(gpuPassthrough
      ? { extraMounts: [{ hostPath: '/dev/null', containerPath: '/var/run/nvidia-container-devices/all' }] }
      : {}),
  }))
  return stringify({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: cluster,
    networking: { serviceSubnet: SERVICE_SUBNET },
    nodes: [{ role: 'control-plane', image }, ...workers],
    // kind's kubeadm config is v1beta3, where extraArgs is a map, merged with kind's own.
    kubeadmConfigPatches: [
      stringify({ kind: 'ClusterConfiguration', controllerManager: { extraArgs: controllerManagerFlags } }),
    ],
  })
}
