import { describe, expect, it } from 'vitest'
import { fleetNodes, LABELS, loadTopology, validateTopology } from '../../scripts/lib/cluster/topology.ts'
import { EnvironmentError } from '../../scripts/lib/errors.ts'

describe('topology presets', () => {
  it('lab: two workers with four H100s each, labelled like GPU feature discovery does', async () => {
    const nodes = fleetNodes(await loadTopology('lab'))
    expect(nodes.map((n) => [n.name, n.gpus])).toEqual([
      ['gpu-0', 4],
      ['gpu-1', 4],
    ])
    expect(nodes[0]!.labels).toMatchObject({
      [LABELS.gpuProduct]: 'NVIDIA-H100-80GB-HBM3',
      [LABELS.gpuMemory]: '81559',
      [LABELS.gpuCount]: '4',
      [LABELS.zone]: 'zone-a',
    })
    expect(new Set(nodes.map((n) => n.labels[LABELS.rack])).size).toBe(2)
    // NVLink stays inside an HGX node: no multi-node NVLink domain label.
    expect(nodes[0]!.labels[LABELS.nvlinkDomain]).toBeUndefined()
  })

  it('large: 64 nodes of 8 GPUs in 8 racks of 8 across 2 zones', async () => {
    const nodes = fleetNodes(await loadTopology('large'))
    expect(nodes).toHaveLength(64)
    expect(nodes.every((n) => n.gpus === 8)).toBe(true)
    const perRack = new Map<string, number>()
    for (const node of nodes) perRack.set(node.labels[LABELS.rack]!, (perRack.get(node.labels[LABELS.rack]!) ?? 0) + 1)
    expect(perRack.size).toBe(8)
    expect([...perRack.values()]).toEqual(Array(8).fill(8))
    expect(new Set(nodes.map((n) => n.labels[LABELS.zone]))).toEqual(new Set(['zone-a', 'zone-b']))
  })

  it('a rack-wide NVLink domain labels every node of the rack with the same clique', () => {
    const topology = validateTopology({
      pools: [
        {
          name: 'gb200',
          count: 4,
          gpusPerNode: 4,
          gpuProduct: 'NVIDIA-GB200',
          gpuMemoryMiB: 189471,
          cpu: '144',
          memory: '1Ti',
          zones: ['zone-a'],
          racksPerZone: 2,
          nvlinkDomain: 'rack',
        },
      ],
    })
    const cliques = fleetNodes(topology).map((n) => n.labels[LABELS.nvlinkDomain])
    expect(cliques[0]).toBe(cliques[1])
    expect(cliques[1]).not.toBe(cliques[2])
  })
})

describe('validateTopology', () => {
  it('names the field and the rule of every problem', () => {
    const attempt = () =>
      validateTopology(
        { pools: [{ name: 'Bad_Name', count: 0, gpusPerNode: 2.5, zones: [], nvlinkDomain: 'row' }] },
        'mine.yaml',
      )
    expect(attempt).toThrow(EnvironmentError)
    expect(attempt).toThrow(/pools\[0\]\.name must be a lowercase DNS label/)
    expect(attempt).toThrow(/pools\[0\]\.count must be a whole number ≥ 1/)
    expect(attempt).toThrow(/pools\[0\]\.gpusPerNode must be a whole number ≥ 1/)
    expect(attempt).toThrow(/pools\[0\]\.zones must be a non-empty list/)
    expect(attempt).toThrow(/pools\[0\]\.nvlinkDomain must be 'node' or 'rack'/)
  })

  it('rejects a file without pools and an unknown preset', async () => {
    expect(() => validateTopology({})).toThrow(/'pools' must be a non-empty list/)
    await expect(loadTopology('/no/such/file.yaml')).rejects.toThrow(/neither a preset/)
  })
})
