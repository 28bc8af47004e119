import { requireCandidates } from './policy.ts'
import type { Candidate, Policy, RouteRequest } from './policy.ts'

/**
 * Each request to the next candidate in turn. vLLM production-stack's `roundrobin` routing
 * logic does the same over its list of endpoints. Blind to load: a slow backend gets as many
 * requests as a fast one.
 */
export function roundRobin(): Policy {
  let next = 0
  return {
    name: 'round-robin',
    readsBody: false,
    pick<C extends Candidate>(candidates: readonly C[], _request: RouteRequest): C {
      requireCandidates(candidates)
      const chosen = candidates[next % candidates.length]!
      next = (next + 1) % Number.MAX_SAFE_INTEGER
      return chosen
    },
  }
}
