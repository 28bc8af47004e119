/** What a policy sees of a backend: its address and the requests it has in flight through this router. */
export interface Candidate {
  readonly address: string
  readonly outstanding: number
}

/** What a policy may read of a request. */
export interface RouteRequest {
  /** The affinity header's value, else the body's `user`; null when the request has neither. */
  sessionKey: string | null
  /** The prompt as text (a chat's messages joined in order); null for requests without one. */
  prompt: string | null
}

export const policyNames = ['round-robin', 'least-outstanding', 'session-affinity', 'prefix-aware'] as const
export type PolicyName = (typeof policyNames)[number]

/**
 * A routing policy: picks one of the candidates for a request. The router passes only backends
 * that may take a request (ready, healthy, breaker not open), never an empty list, always in
 * the same order (by address).
 */
export interface Policy {
  readonly name: PolicyName
  /** Whether it reads the request's body (the prompt, the `user`): if not, the router passes bodies on unread. */
  readonly readsBody: boolean
  pick<C extends Candidate>(candidates: readonly C[], request: RouteRequest): C
}

/** The precondition every policy checks: there is something to pick from. */
export function requireCandidates(candidates: readonly Candidate[]): void {
  if (candidates.length === 0) throw new RangeError('a policy needs at least one candidate')
}
