// The inventory agent's pure parts: nvidia-smi's CSV, the figures computed from a node's labels
// and pods, and the ResourceSlice written and read back.
import type { V1Node, V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../workloads/gpu-inventory/config.ts'
import { gpusFromPods } from '../../workloads/gpu-inventory/from-pods.ts'
import { parseNvidiaSmi } from '../../workloads/gpu-inventory/nvidia-smi.ts'
import { gpusOfSlice, INVENTORY_DRIVER, resourceSlice } from '../../workloads/gpu-inventory/resource-slice.ts'
import { GPU_MEMORY_ANNOTATION } from '../../workloads/shared/pod-gpus.ts'

// Shapes of real output of
//   nvidia-smi --query-gpu=index,uuid,memory.total,memory.used --format=csv,noheader,nounits
// An HGX H100 80GB node reports 81559 MiB per GPU (a few MiB used when idle); an A100 80GB 81920.
const hgxH100 = [
  '0, GPU-3a1f0c2e-5d6b-4e7a-9c1d-2b3e4f5a6b70, 81559, 4',
  '1, GPU-9c72d1e4-8a3b-4f6c-b2d7-1e0f9a8b7c61, 81559, 71320',
  '2, GPU-0e51a9b3-7c2d-4e8f-a1b6-3d4c5e6f7a82, 81559, 4',
  '3, GPU-77ab4c3d-2e1f-4a5b-8c9d-0e1f2a3b4c93, 81559, 40960',
  '4, GPU-1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4da4, 81559, 4',
  '5, GPU-2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5eb5, 81559, 4',
  '6, GPU-3d4e5f6a-7b8c-4d9e-0f1a-2b3c4d5e6fc6, 81559, 81000',
  '7, GPU-4e5f6a7b-8c9d-4e0f-1a2b-3c4d5e6f7ad7, 81559, 4',
].join('\n')
const a100Pair =
  '0, GPU-aaaaaaaa-1111-2222-3333-444444444444, 81920, 0\n1, GPU-bbbbbbbb-1111-2222-3333-444444444444, 81920, 18432\n'
// A GPU whose memory the driver cannot report (unified-memory parts print [N/A]).
const notAvailable = '0, GPU-cccccccc-1111-2222-3333-444444444444, [N/A], [N/A]\n'

describe('parseNvidiaSmi', () => {
  it('reads index, uuid, total and free memory of each GPU, in index order', () => {
    const gpus = parseNvidiaSmi(hgxH100)
    expect(gpus).toHaveLength(8)
    expect(gpus[0]).toEqual({
      index: 0,
      uuid: 'GPU-3a1f0c2e-5d6b-4e7a-9c1d-2b3e4f5a6b70',
      totalMiB: 81559,
      freeMiB: 81555,
    })
    expect(gpus.map((g) => g.freeMiB)).toEqual([81555, 10239, 81555, 40599, 81555, 81555, 559, 81555])
    expect(parseNvidiaSmi(a100Pair).map((g) => [g.index, g.totalMiB, g.freeMiB])).toEqual([
      [0, 81920, 81920],
      [1, 81920, 63488],
    ])
  })

  it('takes CRLF line ends and sorts by index', () => {
    const gpus = parseNvidiaSmi('1, GPU-b, 100, 10\r\n0, GPU-a, 100, 50\r\n')
    expect(gpus.map((g) => g.uuid)).toEqual(['GPU-a', 'GPU-b'])
  })

  it('reports a GPU whose memory reads [N/A] as having none free rather than guess', () => {
    expect(parseNvidiaSmi(notAvailable)).toEqual([
      { index: 0, uuid: 'GPU-cccccccc-1111-2222-3333-444444444444', totalMiB: 0, freeMiB: 0 },
    ])
  })

  it('refuses output of another query (with a header, or other fields)', () => {
    expect(() => parseNvidiaSmi('index, uuid, memory.total [MiB], memory.used [MiB]\n0, GPU-a, 1, 0')).toThrow(
      /expected "index, uuid, memory.total, memory.used"/,
    )
    expect(() => parseNvidiaSmi('0, 81559, 1')).toThrow(/got "0, 81559, 1"/)
  })
})

const node: V1Node = {
  metadata: { name: 'h100-3', uid: 'uid-3', labels: { 'nvidia.com/gpu.memory': '81559' } },
  status: { allocatable: { 'nvidia.com/gpu': '8' } },
}

function pod(name: string, gpus: number, memory?: number, extra: Partial<V1Pod['status']> = {}): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'lab',
      creationTimestamp: new Date(`2025-01-01T00:00:0${name.at(-1)}Z`),
      annotations: memory ? { [GPU_MEMORY_ANNOTATION]: String(memory) } : {},
    },
    spec: {
      nodeName: 'h100-3',
      containers: [{ name: 'c', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }],
    },
    status: { phase: 'Running', ...extra },
  }
}

describe('gpusFromPods', () => {
  it('gives each pod its GPUs in turn, oldest first: its stated memory, or the whole GPU', () => {
    const gpus = gpusFromPods(node, [pod('b-2', 1), pod('a-1', 2, 40_000), pod('c-3', 1, 0, { phase: 'Succeeded' })])!
    expect(gpus.map((g) => g.freeMiB)).toEqual([41559, 41559, 0, 81559, 81559, 81559, 81559, 81559])
    expect(gpus.map((g) => g.totalMiB)).toEqual(Array(8).fill(81559))
    expect(gpus[7]!.uuid).toBe('h100-3-gpu-7')
  })

  it('ignores pods of other nodes and says nothing for a node without the memory label', () => {
    const elsewhere = { ...pod('x-1', 8), spec: { ...pod('x-1', 8).spec!, nodeName: 'h100-4' } }
    expect(gpusFromPods(node, [elsewhere])!.every((g) => g.freeMiB === 81559)).toBe(true)
    expect(gpusFromPods({ ...node, metadata: { name: 'cpu-0' } }, [])).toBeUndefined()
  })
})

describe('resourceSlice', () => {
  it('is one device per GPU in a one-slice pool named after the node, owned by the node', () => {
    const slice = resourceSlice(node, parseNvidiaSmi(a100Pair), 'nvidia-smi', 3)
    expect(slice.metadata).toMatchObject({
      name: 'h100-3-gpu-inventory',
      ownerReferences: [{ kind: 'Node', name: 'h100-3', uid: 'uid-3' }],
    })
    expect(slice.spec).toMatchObject({
      driver: INVENTORY_DRIVER,
      nodeName: 'h100-3',
      pool: { name: 'h100-3', generation: 3, resourceSliceCount: 1 },
    })
    expect(slice.spec.devices![1]).toEqual({
      name: 'gpu-1',
      capacity: { memory: { value: '81920Mi' } },
      attributes: {
        index: { _int: 1 },
        uuid: { string: 'GPU-bbbbbbbb-1111-2222-3333-444444444444' },
        source: { string: 'nvidia-smi' },
        freeMemoryMiB: { _int: 63488 },
      },
    })
  })

  it('reads back what it wrote, from client-node objects and from the plain JSON of a watch event', () => {
    const gpus = parseNvidiaSmi(hgxH100)
    const slice = resourceSlice(node, gpus, 'nvidia-smi', 1)
    expect(gpusOfSlice(slice)).toEqual(gpus)
    const plain = JSON.parse(JSON.stringify(slice).replaceAll('"_int"', '"int"')) as typeof slice
    expect(gpusOfSlice(plain)).toEqual(gpus)
  })
})

describe('gpu-inventory settings', () => {
  it('take the node from NODE_NAME (the downward API) and refuse a missing node or an unknown source', () => {
    expect(loadConfig([], { NODE_NAME: 'h100-0' })).toMatchObject({ nodeName: 'h100-0', source: 'auto' })
    expect(() => loadConfig([], {})).toThrow(/nodeName must not be empty/)
    expect(() => loadConfig(['--source', 'dcgm'], { NODE_NAME: 'n' })).toThrow(
      /source must be one of auto, nvidia-smi, pods \(got dcgm\)/,
    )
  })
})
