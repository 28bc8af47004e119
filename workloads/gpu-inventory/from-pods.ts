/**
 * A node's GPUs where no `nvidia-smi` runs (kwok's simulated nodes, a laptop): the count from
 * the node's allocatable `nvidia.com/gpu`, each GPU's memory from GPU feature discovery's label
 * `nvidia.com/gpu.memory`, and what the pods bound to the node hold. Each such pod takes its
 * GPUs in turn (oldest pod first, lowest index first): of each, the memory its
 * `serving-lab.io/gpu-memory-mib` annotation states, or the whole GPU when it states none (the
 * device plugin gives it the GPU to itself). Which physical GPU a pod got is the device
 * plugin's secret; the figures per node are right, the indices are the agent's choice.
 */
import type { V1Node, V1Pod } from '@kubernetes/client-node'
import { GPU_RESOURCE, holdsResources, memoryNeed, podGpus, wholeQuantity } from '../shared/pod-gpus.ts'
import type { Gpu } from './nvidia-smi.ts'

const createdMs = (pod: V1Pod) => new Date(pod.metadata?.creationTimestamp ?? 0).getTime()

export const GPU_MEMORY_LABEL = 'nvidia.com/gpu.memory'

/** The node's GPUs with what its pods hold; undefined when the node's labels do not say its GPUs' memory. */
export function gpusFromPods(node: V1Node, pods: Iterable<V1Pod>): Gpu[] | undefined {
  const name = node.metadata?.name ?? ''
  const count = wholeQuantity(node.status?.allocatable?.[GPU_RESOURCE])
  const label = node.metadata?.labels?.[GPU_MEMORY_LABEL]
  if (!label || !/^\d+$/.test(label)) return undefined
  const totalMiB = Number(label)
  const gpus: Gpu[] = Array.from({ length: count }, (_, index) => ({
    index,
    uuid: `${name}-gpu-${index}`,
    totalMiB,
    freeMiB: totalMiB,
  }))
  const holding = [...pods]
    .filter((p) => holdsResources(p) && p.spec?.nodeName === name)
    .sort((a, b) => createdMs(a) - createdMs(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
  let next = 0
  for (const pod of holding) {
    const need = memoryNeed(pod)
    for (let i = 0; i < podGpus(pod) && next < gpus.length; i++, next++) {
      const gpu = gpus[next]!
      gpu.freeMiB = need > 0 ? Math.max(0, totalMiB - need) : 0
    }
  }
  return gpus
}
