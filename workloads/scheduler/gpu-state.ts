/**
 * The cluster's GPUs as the scheduler sees them: each node's allocatable `nvidia.com/gpu` minus
 * what the pods bound to it request, with the labels placement reads (NVLink domain, rack, zone,
 * GPU memory). Pure functions of Node and Pod objects.
 *
 * A pod's request follows the kubelet's rule for extended resources: a container's request
 * equals its limit (a limit alone sets both), the pod needs the sum over its containers or the
 * largest init container, whichever is more. Pods that finished (Succeeded, Failed) hold nothing.
 */
import type { V1Container, V1Node, V1Pod } from '@kubernetes/client-node'

export const GPU_RESOURCE = 'nvidia.com/gpu'

/** The node labels placement reads: GPU feature discovery's, the zone, and the lab's rack. */
export const NODE_LABELS = {
  /** GFD's multi-node NVLink domain; without it, a node's own NVLink board is its domain. */
  nvlinkDomain: 'nvidia.com/gpu.clique',
  rack: 'serving-lab.dev/rack',
  zone: 'topology.kubernetes.io/zone',
  /** Memory of one GPU in MiB, as GFD labels it. */
  gpuMemory: 'nvidia.com/gpu.memory',
} as const

export interface NodeGpus {
  name: string
  /** Allocatable GPUs. */
  gpus: number
  /** GPUs no bound pod requests. */
  free: number
  /** Memory of each GPU in MiB, undefined when neither the inventory nor the labels say. */
  gpuMemoryMiB: number | undefined
  nvlinkDomain: string
  /** Empty when the node has no rack label. */
  rack: string
  zone: string
}

const quantity = (raw: string | undefined): number => {
  const value = Number(raw ?? 0)
  return Number.isInteger(value) && value > 0 ? value : 0
}

function containerGpus(container: V1Container): number {
  const { requests, limits } = container.resources ?? {}
  return quantity(requests?.[GPU_RESOURCE] ?? limits?.[GPU_RESOURCE])
}

/** The GPUs a pod needs on its node. */
export function podGpus(pod: V1Pod): number {
  const spec = pod.spec
  if (!spec) return 0
  const running = spec.containers.reduce((sum, c) => sum + containerGpus(c), 0)
  const init = Math.max(0, ...(spec.initContainers ?? []).map(containerGpus))
  return Math.max(running, init)
}

/** A pod that holds its node's resources: bound, and not finished. */
export function holdsResources(pod: V1Pod): boolean {
  const phase = pod.status?.phase
  return Boolean(pod.spec?.nodeName) && phase !== 'Succeeded' && phase !== 'Failed'
}

/** A node new pods may go to: Ready, not cordoned, no NoSchedule/NoExecute taint. */
export function acceptsPods(node: V1Node): boolean {
  if (node.spec?.unschedulable) return false
  if (node.metadata?.deletionTimestamp) return false
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')
  if (ready?.status !== 'True') return false
  return !(node.spec?.taints ?? []).some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
}

/**
 * The GPU nodes that accept pods, with what is free on each. `gpuMemoryOf` overrides the label
 * (the inventory agent's live figure, when there is one).
 */
export function gpuState(
  nodes: Iterable<V1Node>,
  pods: Iterable<V1Pod>,
  gpuMemoryOf: (node: V1Node) => number | undefined = labelledGpuMemory,
): NodeGpus[] {
  const used = new Map<string, number>()
  for (const pod of pods) {
    if (!holdsResources(pod)) continue
    const node = pod.spec!.nodeName!
    used.set(node, (used.get(node) ?? 0) + podGpus(pod))
  }
  const state: NodeGpus[] = []
  for (const node of nodes) {
    const name = node.metadata?.name ?? ''
    const gpus = quantity(node.status?.allocatable?.[GPU_RESOURCE])
    if (gpus === 0 || !acceptsPods(node)) continue
    const labels = node.metadata?.labels ?? {}
    state.push({
      name,
      gpus,
      free: Math.max(0, gpus - (used.get(name) ?? 0)),
      gpuMemoryMiB: gpuMemoryOf(node),
      nvlinkDomain: labels[NODE_LABELS.nvlinkDomain] || `node/${name}`,
      rack: labels[NODE_LABELS.rack] ?? '',
      zone: labels[NODE_LABELS.zone] ?? '',
    })
  }
  return state.sort((a, b) => a.name.localeCompare(b.name))
}

export function labelledGpuMemory(node: V1Node): number | undefined {
  const raw = node.metadata?.labels?.[NODE_LABELS.gpuMemory]
  return raw && /^\d+$/.test(raw) ? Number(raw) : undefined
}

/** GPUs requested beyond a node's allocatable, per node: empty when nothing is oversubscribed. */
export function oversubscribed(nodes: Iterable<V1Node>, pods: Iterable<V1Pod>): Map<string, number> {
  const requested = new Map<string, number>()
  for (const pod of pods)
    if (holdsResources(pod))
      requested.set(pod.spec!.nodeName!, (requested.get(pod.spec!.nodeName!) ?? 0) + podGpus(pod))
  const over = new Map<string, number>()
  for (const node of nodes) {
    const name = node.metadata?.name ?? ''
    const excess = (requested.get(name) ?? 0) - quantity(node.status?.allocatable?.[GPU_RESOURCE])
    if (excess > 0) over.set(name, excess)
  }
  return over
}
