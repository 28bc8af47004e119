/**
 * The cluster's GPUs as the scheduler sees them: each node's allocatable `nvidia.com/gpu` minus
 * what the pods bound to it request, with the labels placement reads (NVLink domain, rack, zone,
 * GPU memory). Pure functions of Node and Pod objects.
 * What a pod holds is read as in `../shared/pod-gpus.ts`.
 */
import type { V1Node, V1Pod } from '@kubernetes/client-node'
import type { Gpu } from '../gpu-inventory/nvidia-smi.ts'
import { GPU_RESOURCE, holdsResources, podGpus, wholeQuantity as quantity } from '../shared/pod-gpus.ts'

export { GPU_RESOURCE, holdsResources, podGpus }

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
  /**
   * Free memory of each GPU in MiB as the node's live inventory (its ResourceSlice) last
   * reported it, less what this scheduler placed since in the same cycle; undefined without one.
   */
  gpuFreeMemoryMiB: number[] | undefined
  nvlinkDomain: string
  /** Empty when the node has no rack label. */
  rack: string
  zone: string
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
 * The GPU nodes that accept pods, with what is free on each. `inventory` is the live inventory
 * by node name (the agent's ResourceSlices): where a node has one, its GPUs' memory and free
 * memory come from it; elsewhere the memory comes from the label and free memory is unknown.
 */
export function gpuState(
  nodes: Iterable<V1Node>,
  pods: Iterable<V1Pod>,
  inventory: ReadonlyMap<string, Gpu[]> = new Map(),
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
    const live = inventory.get(name)
    const liveMemory = live && live.length > 0 ? Math.min(...live.map((g) => g.totalMiB)) : 0
    state.push({
      name,
      gpus,
      free: Math.max(0, gpus - (used.get(name) ?? 0)),
      gpuMemoryMiB: liveMemory || labelledGpuMemory(node),
      gpuFreeMemoryMiB: live?.map((g) => g.freeMiB),
      nvlinkDomain: labels[NODE_LABELS.nvlinkDomain] || `node/${name}`,
      rack: labels[NODE_LABELS.rack] ?? '',
      zone: labels[NODE_LABELS.zone] ?? '',
    })
  }
  return state.sort((a, b) => a.name.localeCompare(b.name))
}

/** GPUs of the node with at least `needMiB` free by its live inventory; every free GPU without one. */
export function roomyGpus(node: NodeGpus, needMiB: number): number {
  if (!node.gpuFreeMemoryMiB || needMiB === 0) return node.free
  return node.gpuFreeMemoryMiB.filter((free) => free >= needMiB).length
}

/**
 * Counts a member placed on the node: its GPUs are no longer free, and in the live figures the
 * GPUs it takes are the ones with the least free memory that still hold its need (any, for a
 * pod that states none), so the next gang of the cycle does not count them again.
 */
export function takeGpus(node: NodeGpus, gpus: number, needMiB: number): void {
  node.free -= gpus
  if (!node.gpuFreeMemoryMiB) return
  const order = node.gpuFreeMemoryMiB.map((free, i) => ({ free, i })).sort((a, b) => a.free - b.free)
  const taken = order.filter((g) => g.free >= needMiB).slice(0, gpus)
  node.gpuFreeMemoryMiB = node.gpuFreeMemoryMiB.filter((_, i) => !taken.some((t) => t.i === i))
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
