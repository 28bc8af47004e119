import { requireCandidates } from './policy.ts'
import type { Candidate, Policy, RouteRequest } from './policy.ts'

/**
 * The candidate with the fewest requests in flight through this router (Envoy's and nginx's
 * "least request"/"least_conn" idea). A backend that answers slowly piles up requests and so
 * gets fewer new ones. Ties go round robin, so an idle set of backends is still used evenly.
 */
export function leastOutstanding(): Policy {
  let offset = 0
  return {
    name: 'least-outstanding',
    readsBody: false,
    pick<C extends Candidate>(candidates: readonly C[], _request: RouteRequest): C {
      return leastLoaded(candidates, offset++)
    },
  }
}

/** The least loaded candidate; among equals, the first at or after `start` (wrapping around). */
export function leastLoaded<C extends Candidate>(candidates: readonly C[], start = 0): C {
  requireCandidates(candidates)
  let best: C | undefined
  for (let i = 0; i < candidates.length; i++) {
    const candidate = candidates[(start + i) % candidates.length]!
    if (!best || candidate.outstanding < best.outstanding) best = candidate
  }
  return best!
}
