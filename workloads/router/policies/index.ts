import { leastOutstanding } from './least-outstanding.ts'
import type { Policy, PolicyName } from './policy.ts'
import { prefixAware } from './prefix-aware.ts'
import { roundRobin } from './round-robin.ts'
import { sessionAffinity } from './session-affinity.ts'

/** Every policy by its `--policy` name. */
export const policies: Record<PolicyName, () => Policy> = {
  'round-robin': roundRobin,
  'least-outstanding': leastOutstanding,
  'session-affinity': sessionAffinity,
  'prefix-aware': () => prefixAware(),
}

export function createPolicy(name: PolicyName): Policy {
  return policies[name]()
}
