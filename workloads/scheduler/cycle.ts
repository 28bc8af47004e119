/**
 * One scheduling cycle's decisions, and the rule that keeps a large gang from starving.
 *
 * Gangs are tried oldest first. A gang that fits is placed. Without more, a large gang that does
 * not fit would wait for ever behind a stream of small ones: each departure frees a few GPUs,
 * and a smaller, younger gang takes them before enough are free together. So:
 *
 * - The oldest gang that does not fit now, but would if pods left, is the **head**. It holds a
 *   **reservation**: the nodes it would take once they empty, chosen among the domains of the
 *   narrowest topology level it can fit in as the ones whose pods hold the fewest GPUs now (so
 *   it waits least). The reservation is kept from cycle to cycle while the gang is the head and
 *   its nodes still take pods, so it does not wander as GPUs free here and there.
 * - Younger gangs may use any node but those: they backfill what the head does not need. Older
 *   gangs are not held back. Reserved nodes therefore only empty, and once they have, the head
 *   fits there (or sooner elsewhere).
 * - A gang that would not fit even if every pod left (too large, GPUs without the memory it
 *   needs, or memory held outside Kubernetes by the live inventory) is refused for a reason no
 *   departure changes, and holds no reservation.
 *
 * Younger gangs are not allowed onto a reserved node's idle GPUs even briefly: no pod says how
 * long it runs, so backfill of that kind (Slurm's, which needs time limits) is not possible.
 * Pure: it works on a copy of the state.
 */
import type { Gang } from './gangs.ts'
import { takeGpus, type NodeGpus } from './gpu-state.ts'
import { domainOf, placeGang, type Placement } from './placement.ts'

export interface Reservation {
  /** The head gang's key. */
  gang: string
  /** The nodes held for it. */
  nodes: string[]
}

export type Decision =
  | { gang: Gang; kind: 'place'; placement: Extract<Placement, { ok: true }> }
  /** Cannot be placed now; may be later. */
  | { gang: Gang; kind: 'wait'; reason: string }
  /** Would not fit even on empty nodes. */
  | { gang: Gang; kind: 'never'; reason: string }

export interface CyclePlan {
  decisions: Decision[]
  reservation: Reservation | undefined
}

const copyOf = (state: NodeGpus[]): NodeGpus[] =>
  state.map((n) => ({ ...n, gpuFreeMemoryMiB: n.gpuFreeMemoryMiB && [...n.gpuFreeMemoryMiB] }))

/**
 * The nodes as if every pod left: all GPUs free. In a live inventory the GPUs the pods held
 * become wholly free (taken to be the ones with the least free memory); what the other GPUs
 * lack is held by something no departure frees (a process outside Kubernetes), and stays.
 */
const emptied = (nodes: NodeGpus[]): NodeGpus[] =>
  nodes.map((n) => {
    const held = n.gpus - n.free
    const live = n.gpuFreeMemoryMiB
      ?.toSorted((a, b) => a - b)
      .map((free, i) => (i < held ? (n.gpuMemoryMiB ?? free) : free))
    return { ...n, free: n.gpus, gpuFreeMemoryMiB: live }
  })

const gpusInUse = (nodes: NodeGpus[]) => nodes.reduce((sum, n) => sum + n.gpus - n.free, 0)

/**
 * The nodes to hold for a gang that fits on empty nodes at `level`: in each domain of that
 * level, the fewest of its emptiest nodes the gang fits on once emptied; of those sets, the one
 * whose nodes hold the fewest GPUs now.
 */
export function reserveFor(gang: Gang, state: NodeGpus[], level: Extract<Placement, { ok: true }>['level']): string[] {
  const domains = new Map<string, NodeGpus[]>()
  for (const node of state) domains.set(domainOf(level, node), [...(domains.get(domainOf(level, node)) ?? []), node])
  let best: { nodes: NodeGpus[]; inUse: number } | undefined
  for (const nodes of domains.values()) {
    const emptiest = [...nodes].sort((a, b) => b.free - a.free || a.name.localeCompare(b.name))
    for (let count = 1; count <= emptiest.length; count++) {
      const placed = placeGang(gang.pending, emptied(emptiest.slice(0, count)))
      if (!placed.ok) continue
      const taken = emptiest.filter((n) => [...placed.nodes.values()].includes(n.name))
      const inUse = gpusInUse(taken)
      if (!best || inUse < best.inUse) best = { nodes: taken, inUse }
      break
    }
  }
  return (best?.nodes ?? []).map((n) => n.name).sort()
}

/** Decides every gang of a cycle; `held` is the reservation the last cycle returned. */
export function planCycle(gangs: Gang[], current: NodeGpus[], held: Reservation | undefined): CyclePlan {
  const state = copyOf(current)
  const decisions: Decision[] = []
  let reservation: Reservation | undefined
  for (const gang of gangs) {
    if (gang.waiting) {
      decisions.push({ gang, kind: 'wait', reason: gang.waiting })
      continue
    }
    const reserved = new Set(reservation ? reservation.nodes : [])
    const placement = placeGang(
      gang.pending,
      state.filter((n) => !reserved.has(n.name)),
    )
    if (placement.ok) {
      for (const member of gang.pending)
        takeGpus(
          state.find((n) => n.name === placement.nodes.get(member.key))!,
          member.gpus,
          member.gpuMemoryMiB,
        )
      decisions.push({ gang, kind: 'place', placement })
      continue
    }
    const onEmpty = placeGang(gang.pending, emptied(state))
    if (!onEmpty.ok) {
      decisions.push({ gang, kind: 'never', reason: `cannot fit even if every pod left its nodes: ${onEmpty.reason}` })
      continue
    }
    if (reservation) {
      const why = `${placement.reason}; ${reservation.nodes.length} node(s) are held for ${reservation.gang}, the oldest waiting gang`
      decisions.push({ gang, kind: 'wait', reason: why })
      continue
    }
    const names = new Set(state.map((n) => n.name))
    const keep = held?.gang === gang.key && held.nodes.length > 0 && held.nodes.every((n) => names.has(n))
    reservation = { gang: gang.key, nodes: keep ? held.nodes : reserveFor(gang, state, onEmpty.level) }
    const why = `${placement.reason}; oldest waiting gang: ${reservation.nodes.join(', ')} held for it until they free`
    decisions.push({ gang, kind: 'wait', reason: why })
  }
  return { decisions, reservation }
}
