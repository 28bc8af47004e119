/**
 * The inventory as a DRA ResourceSlice (`resource.k8s.io/v1`, GA in Kubernetes 1.34): one slice
 * per node, named after it, in a pool of one slice named after the node, with one device per
 * GPU. The slice is the standard place for a node's devices: `kubectl get resourceslices` lists
 * it, and a node's slices go with the node (the slice's owner is the Node).
 *
 * Per device: capacity `memory` (the GPU's total, a fixed figure as DRA requires); attributes
 * `index`, `uuid`, `source` (`nvidia-smi` or `pods`) and `freeMemoryMiB` (what is free now,
 * an attribute since capacity must not change). NVIDIA's DRA driver names its attributes
 * `index`, `uuid` and its capacity `memory` alike. The driver name is the lab's, and no
 * DeviceClass selects it, so no ResourceClaim is ever allocated from these devices: they
 * inform the lab's scheduler, they are not handed out.
 */
import type { V1DeviceAttribute, V1Node, V1ResourceSlice } from '@kubernetes/client-node'
import type { Gpu } from './nvidia-smi.ts'

export const INVENTORY_DRIVER = 'gpu-inventory.serving-lab.dev'
export type InventorySource = 'nvidia-smi' | 'pods'

export const sliceName = (node: string) => `${node}-gpu-inventory`

/** The slice for a node's GPUs; `generation` must grow with each change (DRA's pool generation). */
export function resourceSlice(node: V1Node, gpus: Gpu[], source: InventorySource, generation: number): V1ResourceSlice {
  const name = node.metadata!.name!
  return {
    apiVersion: 'resource.k8s.io/v1',
    kind: 'ResourceSlice',
    metadata: {
      name: sliceName(name),
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata!.uid! }],
    },
    spec: {
      driver: INVENTORY_DRIVER,
      nodeName: name,
      pool: { name, generation, resourceSliceCount: 1 },
      devices: gpus.map((gpu) => ({
        name: `gpu-${gpu.index}`,
        capacity: { memory: { value: `${gpu.totalMiB}Mi` } },
        attributes: {
          index: { _int: gpu.index },
          uuid: { string: gpu.uuid },
          source: { string: source },
          freeMemoryMiB: { _int: gpu.freeMiB },
        },
      })),
    },
  }
}

const mebibytes = (quantity: string | undefined): number => {
  const match = /^(\d+)(Mi|Gi)?$/.exec(quantity ?? '')
  if (!match) return 0
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : match[2] === 'Mi' ? 1 : 1 / 2 ** 20)
}

/**
 * An int attribute, as client-node's typed calls give it (`_int`) or as a watch event's plain
 * JSON does (`int`).
 */
const intOf = (attribute: V1DeviceAttribute | undefined): number | undefined =>
  attribute?._int ?? (attribute as { int?: number } | undefined)?.int

/** A node's GPUs read back from its slice: what the scheduler uses. */
export function gpusOfSlice(slice: V1ResourceSlice): Gpu[] {
  return (slice.spec.devices ?? [])
    .map((device) => ({
      index: intOf(device.attributes?.index) ?? -1,
      uuid: device.attributes?.uuid?.string ?? '',
      totalMiB: Math.floor(mebibytes(device.capacity?.memory?.value)),
      freeMiB: intOf(device.attributes?.freeMemoryMiB) ?? 0,
    }))
    .sort((a, b) => a.index - b.index)
}
