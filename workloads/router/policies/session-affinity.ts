import { HashRing } from './hash-ring.ts'
import { leastLoaded } from './least-outstanding.ts'
import { requireCandidates } from './policy.ts'
import type { Candidate, Policy, RouteRequest } from './policy.ts'

/**
 * Requests of one session (the affinity header, else the body's `user`) go to the same backend,
 * which then still holds that conversation's KV cache. The backend is found on a consistent-hash
 * ring of the candidates, so when a backend joins or leaves only about 1/n of the sessions move.
 * vLLM production-stack's `session` routing logic works the same way (a hash ring over the
 * endpoints, keyed by a session header) and, without a session id, falls back to a load-based
 * choice, as this policy falls back to the least loaded candidate.
 */
export function sessionAffinity(): Policy {
  let ring: HashRing | null = null
  let ringNodes = ''
  let offset = 0
  return {
    name: 'session-affinity',
    readsBody: true,
    pick<C extends Candidate>(candidates: readonly C[], request: RouteRequest): C {
      requireCandidates(candidates)
      if (request.sessionKey === null) return leastLoaded(candidates, offset++)
      // The ring is rebuilt only when the set of candidates changes.
      const nodes = candidates.map((c) => c.address).join(',')
      if (!ring || nodes !== ringNodes) {
        ring = new HashRing(candidates.map((c) => c.address))
        ringNodes = nodes
      }
      const address = ring.nodeFor(request.sessionKey)
      return candidates.find((c) => c.address === address)!
    },
  }
}
