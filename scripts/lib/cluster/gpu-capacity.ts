import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import type { KubeContext } from '../kube.ts'
import { GPU_RESOURCE, LABELS } from './topology.ts'

/**
 * Advertises `nvidia.com/gpu` on every node labelled with a GPU count, through the node's
 * status: Kubernetes' documented way to advertise an extended resource by hand. The scheduler
 * then places GPU requests exactly as it would with the NVIDIA device plugin.
 */
export async function advertiseGpus(kube: KubeContext): Promise<number> {
  const nodes = await kube.core.listNode({ labelSelector: LABELS.gpuCount })
  let total = 0
  for (const node of nodes.items) {
    const count = node.metadata!.labels![LABELS.gpuCount]!
    total += Number(count)
    if (node.status?.capacity?.[GPU_RESOURCE] === count) continue
    const path = `/status/capacity/${GPU_RESOURCE.replace('/', '~1')}`
    await kube.core.patchNodeStatus(
      { name: node.metadata!.name!, body: [{ op: 'add', path, value: count }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    )
  }
  return total
}
