// The cycle's rule under pressure: the oldest gang that cannot fit holds the nodes it will take
// once they empty, younger gangs backfill the rest, and a gang that could never fit holds nothing.
// On the large topology's first two racks (16 nodes × 8 GPUs).
import type { V1Node, V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { fleetNodes, loadTopology } from '../../scripts/lib/cluster/topology.ts'
import { planCycle, type Decision, type Reservation } from '../../workloads/scheduler/cycle.ts'
import {
  assembleGangs,
  GPU_MEMORY_ANNOTATION,
  POD_GROUP_LABEL,
  type PodGroup,
} from '../../workloads/scheduler/gangs.ts'
import { gpuState } from '../../workloads/scheduler/gpu-state.ts'

async function twoRacks(): Promise<V1Node[]> {
  return fleetNodes(await loadTopology('large'))
    .slice(0, 16)
    .map((n) => ({
      metadata: { name: n.name, labels: n.labels },
      status: { allocatable: { 'nvidia.com/gpu': String(n.gpus) }, conditions: [{ type: 'Ready', status: 'True' }] },
    }))
}

let clock = 0
/** A gang of `count` pods of `gpus` GPUs each, created now (later gangs are younger). */
function gang(name: string, count: number, gpus: number, memory = 0): { group: PodGroup; pods: V1Pod[] } {
  const created = new Date(1_700_000_000_000 + clock++ * 1000)
  return {
    group: { metadata: { name, namespace: 'ns', creationTimestamp: created }, spec: { minMember: count } },
    pods: Array.from({ length: count }, (_, i) => ({
      metadata: {
        name: `${name}-${i}`,
        namespace: 'ns',
        creationTimestamp: created,
        labels: { [POD_GROUP_LABEL]: name },
        annotations: memory ? { [GPU_MEMORY_ANNOTATION]: String(memory) } : ({} as Record<string, string>),
      },
      spec: { containers: [{ name: 'c', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }] },
      status: { phase: 'Pending' },
    })),
  }
}

/** A pod already running on a node, holding `gpus`. */
const running = (node: string, gpus: number, name = `run-${node}-${clock++}`): V1Pod => ({
  metadata: { name, namespace: 'other' },
  spec: { nodeName: node, containers: [{ name: 'c', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }] },
  status: { phase: 'Running' },
})

class World {
  groups: PodGroup[] = []
  pods: V1Pod[] = []
  reservation: Reservation | undefined
  constructor(readonly nodes: V1Node[]) {}
  add(g: { group: PodGroup; pods: V1Pod[] }) {
    this.groups.push(g.group)
    this.pods.push(...g.pods)
  }
  /** Plans one cycle and binds what it places. */
  cycle(): Decision[] {
    const pending = this.pods.filter((p) => !p.spec!.nodeName)
    const gangs = assembleGangs(
      pending,
      this.pods.filter((p) => p.spec!.nodeName),
      this.groups,
    )
    const plan = planCycle(gangs, gpuState(this.nodes, this.pods), this.reservation)
    this.reservation = plan.reservation
    for (const d of plan.decisions)
      if (d.kind === 'place') for (const m of d.gang.pending) m.pod.spec!.nodeName = d.placement.nodes.get(m.key)
    return plan.decisions
  }
  nodesOf(name: string) {
    return this.pods.filter((p) => p.metadata!.labels?.[POD_GROUP_LABEL] === name).map((p) => p.spec!.nodeName)
  }
}

const kindOf = (decisions: Decision[], name: string) => decisions.find((d) => d.gang.key === `ns/${name}`)?.kind

describe('a cycle under pressure', () => {
  it('holds for the oldest waiting gang the nodes it will take; younger gangs backfill only the rest', async () => {
    const world = new World(await twoRacks())
    for (let i = 0; i < 16; i++) world.pods.push(running(`h100-${i}`, 6))
    world.add(gang('big', 2, 8))
    for (let i = 0; i < 8; i++) world.add(gang(`small-${i}`, 1, 2))
    const decisions = world.cycle()
    expect(kindOf(decisions, 'big')).toBe('wait')
    expect(world.reservation).toMatchObject({ gang: 'ns/big' })
    const held = world.reservation!.nodes
    expect(held).toHaveLength(2)
    // Both in one rack: where the gang must go once they empty.
    expect(new Set(held.map((n) => Math.floor(Number(n.split('-')[1]) / 8))).size).toBe(1)
    for (let i = 0; i < 8; i++) {
      expect(kindOf(decisions, `small-${i}`)).toBe('place')
      expect(held).not.toContain(world.nodesOf(`small-${i}`)[0])
    }
    const big = decisions.find((d) => d.gang.key === 'ns/big')!
    expect(big.kind === 'wait' && big.reason).toContain(`oldest waiting gang: ${held.join(', ')} held for it`)
  })

  it('keeps its reservation while it waits, even when other nodes free first, and binds there once they empty', async () => {
    const world = new World(await twoRacks())
    for (let i = 0; i < 16; i++) world.pods.push(running(`h100-${i}`, 6, `run-${i}`))
    world.add(gang('big', 2, 8))
    world.cycle()
    const held = world.reservation!.nodes
    // One other node empties entirely: a fresh choice would take it, the held one stays.
    const other = held.includes('h100-12') ? 'h100-3' : 'h100-12'
    world.pods = world.pods.filter((p) => p.spec!.nodeName !== other)
    world.add(gang('late', 1, 4))
    const decisions = world.cycle()
    expect(world.reservation?.nodes).toEqual(held)
    expect(kindOf(decisions, 'late')).toBe('place')
    expect(held).not.toContain(world.nodesOf('late')[0])
    // The held nodes empty: the gang binds there, and holds nothing any more.
    world.pods = world.pods.filter((p) => !held.includes(p.spec!.nodeName!) || p.metadata!.labels?.[POD_GROUP_LABEL])
    expect(kindOf(world.cycle(), 'big')).toBe('place')
    expect(world.nodesOf('big').sort()).toEqual(held)
    expect(world.reservation).toBeUndefined()
  })

  it('refuses a gang that would not fit even on empty nodes, and it holds nothing: the next waiting gang does', async () => {
    const world = new World(await twoRacks())
    for (let i = 0; i < 16; i++) world.pods.push(running(`h100-${i}`, 8))
    world.add(gang('too-much-memory', 1, 1, 200_000))
    world.add(gang('too-large', 3, 8 * 8))
    world.add(gang('waits', 1, 8))
    const decisions = world.cycle()
    const never = decisions.filter((d) => d.kind === 'never').map((d) => d.gang.key)
    expect(never).toEqual(['ns/too-much-memory', 'ns/too-large'])
    expect(decisions.find((d) => d.kind === 'never')!.kind === 'never' && decisions[0]!).toMatchObject({
      reason: expect.stringContaining('cannot fit even if every pod left its nodes: 0/16 GPU nodes can take all 1 pod'),
    })
    expect(world.reservation).toMatchObject({ gang: 'ns/waits' })
    expect(world.reservation!.nodes).toHaveLength(1)
  })

  it('with a live inventory, memory held outside Kubernetes does not free when pods leave; memory pods hold does', async () => {
    const [node] = await twoRacks()
    const gpus = (free: number[]) =>
      free.map((freeMiB, index) => ({ index, uuid: `g${index}`, totalMiB: 81559, freeMiB }))
    const busy = [10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 81_000, 81_000]
    const { group, pods } = gang('needs-four', 1, 4, 40_000)
    const [needsFour] = assembleGangs(pods, [], [group])
    // No pod on the node: the memory is someone else's, so the gang can never fit there.
    const outside = gpuState([node!], [], new Map([['h100-0', gpus(busy)]]))
    expect(planCycle([needsFour!], outside, undefined).decisions[0]).toMatchObject({
      kind: 'never',
      reason: expect.stringContaining('1 whose GPU inventory shows too few GPUs with 40000 MiB free'),
    })
    // Six GPUs held by a pod: they free when it leaves, so the gang waits and holds the node.
    const held = gpuState([node!], [running('h100-0', 6)], new Map([['h100-0', gpus(busy)]]))
    const plan = planCycle([needsFour!], held, undefined)
    expect(plan.decisions[0]!.kind).toBe('wait')
    expect(plan.reservation).toEqual({ gang: 'ns/needs-four', nodes: ['h100-0'] })
  })

  it('a large gang is not starved by a stream of small ones: it binds once departures empty what it holds', async () => {
    const world = new World(await twoRacks())
    let random = 7
    const next = () => (random = (random * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    for (let i = 0; i < 64; i++) world.add(gang(`fill-${i}`, 1, 2))
    world.cycle()
    world.add(gang('big', 4, 8))
    let rounds = 0
    while (world.nodesOf('big').some((n) => !n) && rounds < 50) {
      rounds++
      // A quarter of the running small pods finish, and as many new small gangs arrive.
      const leaving = world.pods.filter(
        (p) => p.spec!.nodeName && !p.metadata!.name!.startsWith('big') && next() < 0.25,
      )
      world.pods = world.pods.filter((p) => !leaving.includes(p))
      for (let i = 0; i < leaving.length; i++) world.add(gang(`stream-${rounds}-${i}`, 1, 1 + Math.floor(next() * 2)))
      world.cycle()
      // No gang younger than the holder of the reservation is on the nodes held for it.
      const holder = world.groups.find((g) => `ns/${g.metadata!.name}` === world.reservation?.gang)
      const intruders = world.pods.filter(
        (p) =>
          world.reservation?.nodes.includes(p.spec!.nodeName!) &&
          p.metadata!.creationTimestamp! > holder!.metadata!.creationTimestamp!,
      )
      expect(intruders).toEqual([])
    }
    expect(world.nodesOf('big').every(Boolean)).toBe(true)
    expect(rounds).toBeLessThan(50)
  })
})
