/**
 * Where a gang goes: all its members or none, packed into as few NVLink domains as it can be,
 * within the narrowest topology level that has room — one NVLink domain, else one rack, else
 * one zone, else the whole cluster — and, among the domains of that level with room, the one
 * it leaves with the fewest free GPUs (best fit), so whole nodes stay free for the 8-GPU
 * groups that need them.
 *
 * Inside a domain the packing is greedy, not optimal: the NVLink domain that can take all the
 * remaining members with the least room to spare, else the one that takes the most GPUs, and
 * so on; each member goes to the node with the fewest free GPUs that still fit it (largest
 * members first). Topology-aware schedulers (Kueue's TAS, KAI) use the same two moves: the
 * narrowest level that fits, then best fit inside it.
 */
import type { Member } from './gangs.ts'
import { roomyGpus, type NodeGpus } from './gpu-state.ts'

export const LEVELS = ['nvlink', 'rack', 'zone', 'cluster'] as const
export type Level = (typeof LEVELS)[number]

export type Placement =
  | {
      ok: true
      /** Member key → node name. */
      nodes: Map<string, string>
      /** The narrowest level whose one domain holds the whole gang. */
      level: Level
      /** How many NVLink domains the gang spans. */
      nvlinkDomains: number
    }
  | { ok: false; reason: string }

export function domainOf(level: Level, node: NodeGpus): string {
  switch (level) {
    case 'nvlink':
      return node.nvlinkDomain
    case 'rack':
      // A node without a rack label shares its rack with nobody.
      return node.rack ? `rack/${node.rack}` : `node/${node.name}`
    case 'zone':
      return `zone/${node.zone}`
    case 'cluster':
      return ''
  }
}

const groupBy = <T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> => {
  const groups = new Map<string, T[]>()
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item])
  return groups
}

/**
 * Whether the node's GPUs have the memory the member's model needs per GPU: by size (the live
 * inventory, else the label), and, where the node has a live inventory, enough GPUs with that
 * much free beyond the `taken` ones this placement already gave other members.
 */
export const memoryFits = (member: Member, node: NodeGpus, taken = 0): boolean =>
  member.gpuMemoryMiB === 0 ||
  (node.gpuMemoryMiB !== undefined &&
    node.gpuMemoryMiB >= member.gpuMemoryMiB &&
    roomyGpus(node, member.gpuMemoryMiB) - taken >= member.gpus)

const fits = (member: Member, node: NodeGpus, free: Map<string, number>): boolean =>
  free.get(node.name)! >= member.gpus && memoryFits(member, node, node.free - free.get(node.name)!)

/** Best fit of members (largest first) onto nodes, updating `free`; the members it placed. */
function fill(members: Member[], nodes: NodeGpus[], free: Map<string, number>, out: Map<string, string>): Member[] {
  const placed: Member[] = []
  for (const member of members) {
    let best: NodeGpus | undefined
    for (const node of nodes)
      if (fits(member, node, free) && (!best || free.get(node.name)! < free.get(best.name)!)) best = node
    if (!best) continue
    free.set(best.name, free.get(best.name)! - member.gpus)
    out.set(member.key, best.name)
    placed.push(member)
  }
  return placed
}

/** Packs every member into the nodes, NVLink domain by NVLink domain; undefined if they don't all fit. */
function pack(
  members: Member[],
  nodes: NodeGpus[],
): { nodes: Map<string, string>; nvlinkDomains: number; left: number } | undefined {
  const free = new Map(nodes.map((n) => [n.name, n.free]))
  const domains = [...groupBy(nodes, (n) => n.nvlinkDomain).values()]
  let remaining = [...members].sort((a, b) => b.gpus - a.gpus || a.key.localeCompare(b.key))
  const assigned = new Map<string, string>()
  let used = 0
  while (remaining.length > 0) {
    let best: { domain: NodeGpus[]; placed: Member[]; gpus: number; room: number } | undefined
    for (const domain of domains) {
      const trial = new Map(free)
      const placed = fill(remaining, domain, trial, new Map())
      const gpus = placed.reduce((sum, m) => sum + m.gpus, 0)
      const room = domain.reduce((sum, n) => sum + free.get(n.name)!, 0)
      const all = placed.length === remaining.length
      const bestAll = best !== undefined && best.placed.length === remaining.length
      const better =
        placed.length > 0 &&
        (!best ||
          (all && !bestAll) ||
          (all && bestAll && room < best.room) ||
          (!all && !bestAll && (gpus > best.gpus || (gpus === best.gpus && room < best.room))))
      if (better) best = { domain, placed, gpus, room }
    }
    if (!best) return undefined
    fill(best.placed, best.domain, free, assigned)
    domains.splice(domains.indexOf(best.domain), 1)
    remaining = remaining.filter((m) => !best.placed.includes(m))
    used++
  }
  const left = nodes.reduce((sum, n) => sum + free.get(n.name)!, 0)
  return { nodes: assigned, nvlinkDomains: used, left }
}

/** Places every member or none; see the file's comment for the order of preference. */
export function placeGang(members: Member[], nodes: NodeGpus[]): Placement {
  if (members.length === 0) return { ok: false, reason: 'the gang has no pending members' }
  for (const level of LEVELS) {
    let best: { nodes: Map<string, string>; nvlinkDomains: number; left: number; domain: string } | undefined
    for (const [domain, group] of groupBy(nodes, (n) => domainOf(level, n))) {
      const packed = pack(members, group)
      if (!packed) continue
      const better =
        !best ||
        packed.nvlinkDomains < best.nvlinkDomains ||
        (packed.nvlinkDomains === best.nvlinkDomains &&
          (packed.left < best.left || (packed.left === best.left && domain < best.domain)))
      if (better) best = { ...packed, domain }
    }
    if (best) return { ok: true, nodes: best.nodes, level, nvlinkDomains: best.nvlinkDomains }
  }
  return { ok: false, reason: whyNot(members, nodes) }
}

/** Why a gang fits nowhere, in kube-scheduler's manner: how many nodes refuse it, and for what. */
export function whyNot(members: Member[], nodes: NodeGpus[]): string {
  const gpus = members.reduce((sum, m) => sum + m.gpus, 0)
  const head = `${members.length} pod${members.length === 1 ? '' : 's'} needing ${gpus} GPUs in all`
  const memory = Math.max(...members.map((m) => m.gpuMemoryMiB))
  const reasons: string[] = []
  if (memory > 0) {
    const short = nodes.filter((n) => n.gpuMemoryMiB === undefined || n.gpuMemoryMiB < memory).length
    if (short > 0) reasons.push(`${short} with GPUs of less than ${memory} MiB (or unknown)`)
    const busy = nodes.filter(
      (n) =>
        n.gpuFreeMemoryMiB &&
        (n.gpuMemoryMiB ?? 0) >= memory &&
        roomyGpus(n, memory) < Math.max(...members.map((m) => m.gpus)),
    ).length
    if (busy > 0) reasons.push(`${busy} whose GPU inventory shows too few GPUs with ${memory} MiB free`)
  }
  const largest = Math.max(...members.map((m) => m.gpus))
  const tooFew = nodes.filter((n) => n.free < largest && (memory === 0 || (n.gpuMemoryMiB ?? 0) >= memory)).length
  if (tooFew > 0) reasons.push(`${tooFew} with fewer than ${largest} free GPUs`)
  const usable = nodes.filter((n) => (memory === 0 || (n.gpuMemoryMiB ?? 0) >= memory) && n.free > 0)
  const free = usable.reduce((sum, n) => sum + n.free, 0)
  const detail = reasons.length > 0 ? `: ${reasons.join(', ')}` : ''
  return `0/${nodes.length} GPU nodes can take all ${head}${detail}; ${free} GPUs are free on nodes whose GPUs have the memory`
}
