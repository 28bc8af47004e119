import { leastLoaded } from './least-outstanding.ts'
import { requireCandidates } from './policy.ts'
import type { Candidate, Policy, RouteRequest } from './policy.ts'
import { PrefixMemory } from './prefix-memory.ts'
import type { PrefixMemorySettings } from './prefix-memory.ts'

export interface PrefixAwareSettings extends Partial<PrefixMemorySettings> {
  /**
   * The load guard: the backend with the longest matching prefix is passed over when its
   * requests in flight exceed this factor times the least loaded candidate's (at least 1).
   */
  loadFactor?: number
}

export const defaultLoadFactor = 2

/**
 * Sends a prompt to the backend that most recently served the longest common prefix of it, so
 * that backend's prefix cache skips that part of the prefill; without a match, or when that
 * backend is overloaded against the least loaded one (the guard), to the least loaded.
 *
 * NVIDIA Dynamo's KV-aware router weighs the same two things for each worker: how many of the
 * request's KV blocks the worker already holds (the overlap, known from the KV-cache events the
 * workers publish) against the worker's current load. This policy has no events: it remembers
 * what it sent where, and applies the load term as a guard rather than a weighted cost.
 */
export function prefixAware(settings: PrefixAwareSettings = {}): Policy {
  const memory = new PrefixMemory(settings)
  const loadFactor = settings.loadFactor ?? defaultLoadFactor
  let offset = 0
  return {
    name: 'prefix-aware',
    readsBody: true,
    pick<C extends Candidate>(candidates: readonly C[], request: RouteRequest): C {
      requireCandidates(candidates)
      const least = leastLoaded(candidates, offset++)
      if (request.prompt === null) return least
      const chain = memory.blocks(request.prompt)
      let best: C | undefined
      let bestMatch = 0
      for (const candidate of candidates) {
        const matched = memory.matchedBlocks(candidate.address, chain)
        if (matched === 0) continue
        // The longest match; between equal matches, the less loaded backend.
        if (!best || matched > bestMatch || (matched === bestMatch && candidate.outstanding < best.outstanding)) {
          best = candidate
          bestMatch = matched
        }
      }
      const overloaded = best !== undefined && best.outstanding > loadFactor * Math.max(1, least.outstanding)
      const chosen = best && !overloaded ? best : least
      memory.remember(chosen.address, chain)
      return chosen
    },
  }
}
