// The scheduler's pure core: GPU state from nodes and pods, gang assembly, and placement on the
// large topology (64 nodes × 8 GPUs, 8 racks of 8, 2 zones) and on NVLink-spanning racks.
import type { V1Node, V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { fleetNodes, loadTopology, type Topology } from '../../scripts/lib/cluster/topology.ts'
import {
  assembleGangs,
  GPU_MEMORY_ANNOTATION,
  memberOf,
  POD_GROUP_LABEL,
  type PodGroup,
} from '../../workloads/scheduler/gangs.ts'
import { gpuState, oversubscribed, podGpus, takeGpus, type NodeGpus } from '../../workloads/scheduler/gpu-state.ts'
import { placeGang } from '../../workloads/scheduler/placement.ts'

async function nodesOf(topology: Topology | string): Promise<V1Node[]> {
  const fleet = fleetNodes(typeof topology === 'string' ? await loadTopology(topology) : topology)
  return fleet.map((n) => ({
    metadata: { name: n.name, labels: n.labels },
    status: {
      allocatable: { 'nvidia.com/gpu': String(n.gpus) },
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  }))
}

let created = 0
function pod(
  name: string,
  gpus: number,
  extra: { node?: string; group?: string; memory?: number; phase?: string } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'ns',
      creationTimestamp: new Date(1_700_000_000_000 + created++ * 1000),
      labels: extra.group ? { [POD_GROUP_LABEL]: extra.group } : {},
      annotations: extra.memory ? { [GPU_MEMORY_ANNOTATION]: String(extra.memory) } : {},
    },
    spec: {
      nodeName: extra.node,
      containers: [{ name: 'c', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }],
    },
    status: { phase: extra.phase ?? (extra.node ? 'Running' : 'Pending') },
  }
}

const members = (count: number, gpus: number, memory = 0) =>
  Array.from({ length: count }, (_, i) => memberOf(pod(`m${i}`, gpus, { memory })))

const byName = (state: NodeGpus[]) => new Map(state.map((n) => [n.name, n]))

describe('gpu state', () => {
  it('subtracts what bound, unfinished pods request; a limit alone is the request; init containers count by their largest', async () => {
    const nodes = await nodesOf('large')
    const initHeavy = pod('init', 1, { node: 'h100-1' })
    initHeavy.spec!.initContainers = [{ name: 'i', resources: { requests: { 'nvidia.com/gpu': '3' } } }]
    const pods = [
      pod('a', 2, { node: 'h100-0' }),
      pod('b', 4, { node: 'h100-0' }),
      pod('done', 8, { node: 'h100-0', phase: 'Succeeded' }),
      pod('pending', 8),
      initHeavy,
    ]
    expect(podGpus(initHeavy)).toBe(3)
    const state = byName(gpuState(nodes, pods))
    expect(state.get('h100-0')).toMatchObject({
      gpus: 8,
      free: 2,
      nvlinkDomain: 'node/h100-0',
      zone: 'zone-a',
      gpuMemoryMiB: 81559,
    })
    expect(state.get('h100-1')!.free).toBe(5)
    expect(state.get('h100-2')!.free).toBe(8)
  })

  it('leaves out nodes that are not Ready, cordoned, tainted NoSchedule, or without GPUs', async () => {
    const [ready, notReady, cordoned, tainted, cpuOnly] = (await nodesOf('large')).slice(0, 5)
    notReady!.status!.conditions = [{ type: 'Ready', status: 'False' }]
    cordoned!.spec = { unschedulable: true }
    tainted!.spec = { taints: [{ key: 'k', effect: 'NoSchedule' }] }
    cpuOnly!.status!.allocatable = {}
    expect(gpuState([ready!, notReady!, cordoned!, tainted!, cpuOnly!], []).map((n) => n.name)).toEqual([
      ready!.metadata!.name,
    ])
  })

  it('reports oversubscription per node', async () => {
    const nodes = (await nodesOf('large')).slice(0, 2)
    expect(oversubscribed(nodes, [pod('a', 8, { node: 'h100-0' })]).size).toBe(0)
    expect(oversubscribed(nodes, [pod('a', 8, { node: 'h100-0' }), pod('b', 1, { node: 'h100-0' })])).toEqual(
      new Map([['h100-0', 1]]),
    )
  })
})

describe('gangs', () => {
  const group = (name: string, minMember: number): PodGroup => ({
    apiVersion: 'scheduling.x-k8s.io/v1alpha1',
    kind: 'PodGroup',
    metadata: { name, namespace: 'ns', creationTimestamp: new Date(1_600_000_000_000) },
    spec: { minMember },
  })

  it('gathers pods by their PodGroup label, counts bound members, and waits until minMember exist', () => {
    const pending = [
      pod('g-0', 8, { group: 'g' }),
      pod('g-1', 8, { group: 'g' }),
      pod('h-0', 4, { group: 'h' }),
      pod('solo', 1),
    ]
    const bound = [pod('h-1', 4, { group: 'h', node: 'h100-0' })]
    const gangs = assembleGangs(pending, bound, [group('g', 2), group('h', 3)])
    const byKey = new Map(gangs.map((g) => [g.key, g]))
    expect(byKey.get('ns/g')).toMatchObject({ minMember: 2, bound: 0, waiting: undefined })
    expect(byKey.get('ns/g')!.pending.map((m) => m.key)).toEqual(['ns/g-0', 'ns/g-1'])
    expect(byKey.get('ns/h')).toMatchObject({
      minMember: 3,
      bound: 1,
      waiting: 'waiting for members: 2 of minMember 3 exist',
    })
    expect(byKey.get('ns/solo')).toMatchObject({ minMember: 1, podGroup: undefined, waiting: undefined })
    // PodGroups are older than lone pods here, so their gangs come first.
    expect(gangs.at(-1)!.key).toBe('ns/solo')
  })

  it('holds a pod whose PodGroup does not exist, and one whose memory annotation is not a number', () => {
    const bad = pod('bad', 1)
    bad.metadata!.annotations = { [GPU_MEMORY_ANNOTATION]: '80Gi' }
    const gangs = assembleGangs([pod('x-0', 1, { group: 'x' }), bad], [], [])
    expect(gangs.find((g) => g.key === 'ns/x')!.waiting).toBe('PodGroup ns/x does not exist')
    expect(gangs.find((g) => g.key === 'ns/bad')!.waiting).toMatch(/not a whole number of MiB/)
  })
})

describe('placement on the large topology', () => {
  it('puts a gang that fits one node on one node, best fit: the fullest node with room', async () => {
    const nodes = await nodesOf('large')
    const state = gpuState(nodes, [pod('a', 6, { node: 'h100-5' }), pod('b', 4, { node: 'h100-9' })])
    const placed = placeGang(members(2, 2), state)
    expect(placed).toMatchObject({ ok: true, level: 'nvlink', nvlinkDomains: 1 })
    if (placed.ok) expect(new Set(placed.nodes.values())).toEqual(new Set(['h100-9'])) // h100-5 has 2 free: too few
  })

  it('keeps whole nodes free: four 1-GPU pods fill a partly used node before breaking into empty ones', async () => {
    const nodes = await nodesOf('large')
    const state = gpuState(nodes, [pod('a', 4, { node: 'h100-30' })])
    const placed = placeGang(members(4, 1), state)
    expect(placed.ok && [...new Set(placed.nodes.values())]).toEqual(['h100-30'])
  })

  it('spans nodes inside one rack when it must: a 16-GPU gang of two 8-GPU pods', async () => {
    const state = gpuState(await nodesOf('large'), [])
    const placed = placeGang(members(2, 8), state)
    expect(placed).toMatchObject({ ok: true, level: 'rack', nvlinkDomains: 2 })
    if (!placed.ok) return
    const racks = new Set([...placed.nodes.values()].map((n) => byName(state).get(n)!.rack))
    expect(racks.size).toBe(1)
  })

  it('prefers the rack it fills best, and spans the fewest nodes: four 4-GPU pods go to two nodes', async () => {
    const nodes = await nodesOf('large')
    // Rack 2 of zone-a (h100-8 … h100-15) is half used: it has the least room that still fits.
    const busy = [8, 9, 10, 11].map((i) => pod(`busy-${i}`, 8, { node: `h100-${i}` }))
    const state = gpuState(nodes, busy)
    const placed = placeGang(members(4, 4), state)
    expect(placed).toMatchObject({ ok: true, level: 'rack', nvlinkDomains: 2 })
    if (placed.ok)
      for (const node of placed.nodes.values()) expect(Number(node.split('-')[1])).toBeGreaterThanOrEqual(12)
  })

  it('goes to zone level only when no rack has room, and places nothing when nothing has room', async () => {
    const nodes = await nodesOf('large')
    // Every rack keeps one free node: a 2-node gang must span racks.
    const busy = nodes
      .filter((_, i) => i % 8 !== 0)
      .map((n) => pod(`busy-${n.metadata!.name}`, 8, { node: n.metadata!.name }))
    const state = gpuState(nodes, busy)
    expect(placeGang(members(2, 8), state)).toMatchObject({ ok: true, level: 'zone', nvlinkDomains: 2 })
    const none = placeGang(members(9, 8), state)
    expect(none.ok).toBe(false)
    if (!none.ok)
      expect(none.reason).toMatch(
        /^0\/64 GPU nodes can take all 9 pods needing 72 GPUs in all: 56 with fewer than 8 free GPUs; 64 GPUs are free/,
      )
  })

  it('refuses nodes whose GPUs lack the memory a member needs per GPU', async () => {
    const state = gpuState(await nodesOf('large'), [])
    const placed = placeGang(members(1, 8, 100_000), state)
    expect(placed.ok).toBe(false)
    if (!placed.ok) expect(placed.reason).toContain('64 with GPUs of less than 100000 MiB')
    expect(placeGang(members(1, 8, 80_000), state).ok).toBe(true)
  })

  it('with a live inventory, counts only GPUs whose reported free memory holds the need', async () => {
    const nodes = (await nodesOf('large')).slice(0, 2)
    // h100-0: six GPUs mostly taken by something outside Kubernetes; h100-1: no inventory.
    const smi = (free: number[]) =>
      free.map((freeMiB, index) => ({ index, uuid: `g${index}`, totalMiB: 81559, freeMiB }))
    const inventory = new Map([['h100-0', smi([10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 81_000, 81_000])]])
    const onlyLive = gpuState(nodes.slice(0, 1), [], inventory)
    expect(onlyLive[0]!.gpuFreeMemoryMiB).toHaveLength(8)
    const refused = placeGang(members(1, 4, 40_000), onlyLive)
    expect(refused.ok).toBe(false)
    if (!refused.ok) expect(refused.reason).toContain('1 whose GPU inventory shows too few GPUs with 40000 MiB free')
    // Two 1-GPU members fit the two roomy GPUs; a third does not, though 8 GPUs are unrequested.
    expect(placeGang(members(2, 1, 40_000), onlyLive).ok).toBe(true)
    expect(placeGang(members(3, 1, 40_000), onlyLive).ok).toBe(false)
    // A small need fits the busy GPUs too; without a stated need the count of free GPUs decides.
    expect(placeGang(members(1, 6, 9_000), onlyLive).ok).toBe(true)
    expect(placeGang(members(1, 8), onlyLive).ok).toBe(true)
    // The node without an inventory is judged by its label alone.
    const both = gpuState(nodes, [], inventory)
    const placed = placeGang(members(1, 4, 40_000), both)
    expect(placed.ok && [...placed.nodes.values()]).toEqual(['h100-1'])
  })

  it('takeGpus removes the GPUs a member takes from the live figures: least free first, that still hold the need', async () => {
    const [node] = gpuState(
      (await nodesOf('large')).slice(0, 1),
      [],
      new Map([
        [
          'h100-0',
          [
            { index: 0, uuid: 'a', totalMiB: 81559, freeMiB: 81000 },
            { index: 1, uuid: 'b', totalMiB: 81559, freeMiB: 10_000 },
            { index: 2, uuid: 'c', totalMiB: 81559, freeMiB: 50_000 },
          ],
        ],
      ]),
    )
    takeGpus(node!, 1, 40_000)
    expect(node!.free).toBe(7)
    expect(node!.gpuFreeMemoryMiB).toEqual([81000, 10_000])
  })
})

describe('placement with NVLink across a rack (GB200 NVL72-like)', () => {
  const nvl: Topology = {
    pools: [
      {
        name: 'gb200',
        count: 36,
        gpusPerNode: 4,
        gpuProduct: 'NVIDIA-GB200',
        gpuMemoryMiB: 189471,
        cpu: '72',
        memory: '480Gi',
        zones: ['zone-a'],
        racksPerZone: 2,
        nvlinkDomain: 'rack',
      },
    ],
  }

  it('a gang bigger than a node but within a rack lands in one NVLink domain', async () => {
    const state = gpuState(await nodesOf(nvl), [])
    const placed = placeGang(members(4, 4), state)
    expect(placed).toMatchObject({ ok: true, level: 'nvlink', nvlinkDomains: 1 })
    if (placed.ok)
      expect(new Set([...placed.nodes.values()].map((n) => byName(state).get(n)!.nvlinkDomain)).size).toBe(1)
  })
})
