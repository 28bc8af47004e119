// NetworkPolicies read as objects: may this source open a connection to that pod on that port?
// The semantics of networking.k8s.io/v1, without a CNI: a pod selected by some policy for a
// direction accepts only what one of those policies' rules allows; a pod selected by none is
// open. A connection needs both the target's ingress and the source's egress to allow it.
// ipBlock peers are not matched: the sources here are pods, or hosts with no address to match.
import type { V1LabelSelector } from '@kubernetes/client-node'

interface Peer {
  podSelector?: V1LabelSelector
  namespaceSelector?: V1LabelSelector
  ipBlock?: unknown
}

interface RulePort {
  port?: number | string
  endPort?: number
  protocol?: string
}

/**
 * A NetworkPolicy as the API server sends it and a manifest writes it: `from` and `to`, where
 * the client's typed model says `_from`, so a listed policy is serialized back before it is judged.
 */
export interface NetworkPolicy {
  metadata?: { name?: string; namespace?: string }
  spec?: {
    podSelector?: V1LabelSelector
    policyTypes?: string[]
    ingress?: { from?: Peer[]; ports?: RulePort[] }[]
    egress?: { to?: Peer[]; ports?: RulePort[] }[]
  }
}

/** A pod as the policies see it: its namespace (with the namespace's labels), its labels, its named ports. */
export interface PodEndpoint {
  namespace: string
  namespaceLabels: Record<string, string>
  labels: Record<string, string>
  /** Container port names to numbers, for policies that name a port. */
  ports?: Record<string, number>
}

/** A connection's source: a pod, or a host outside the pod network (the API server, a node). */
export type Source = { pod: PodEndpoint } | { host: string }

export interface Connection {
  from: Source
  to: PodEndpoint
  port: number
  protocol?: 'TCP' | 'UDP' | 'SCTP'
}

/** Whether a label selector selects these labels; an empty selector selects everything. */
export function selects(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = key in labels
    if (operator === 'In' && !(has && values.includes(labels[key]!))) return false
    if (operator === 'NotIn' && has && values.includes(labels[key]!)) return false
    if (operator === 'Exists' && !has) return false
    if (operator === 'DoesNotExist' && has) return false
  }
  return true
}

type Direction = 'Ingress' | 'Egress'

/** The directions a policy isolates: policyTypes, or Ingress (and Egress when it has egress rules) when absent. */
export function policyTypesOf(policy: NetworkPolicy): Direction[] {
  const declared = policy.spec?.policyTypes
  if (declared && declared.length > 0) return declared as Direction[]
  return policy.spec?.egress ? ['Ingress', 'Egress'] : ['Ingress']
}

const appliesTo = (policy: NetworkPolicy, pod: PodEndpoint, direction: Direction) =>
  policy.metadata?.namespace === pod.namespace &&
  selects(policy.spec?.podSelector, pod.labels) &&
  policyTypesOf(policy).includes(direction)

/** Whether a rule's peer is this pod (seen from a policy in `policyNamespace`). */
function peerMatches(peer: Peer, other: Source, policyNamespace: string): boolean {
  if (!('pod' in other)) return false
  if (peer.ipBlock) return false
  const pod = other.pod
  if (peer.namespaceSelector) {
    if (!selects(peer.namespaceSelector, pod.namespaceLabels)) return false
  } else if (pod.namespace !== policyNamespace) return false
  return peer.podSelector ? selects(peer.podSelector, pod.labels) : true
}

/** Whether a rule's port list admits the port; a name is looked up in the target pod's ports. */
function portMatches(ports: RulePort[] | undefined, port: number, protocol: string, target: PodEndpoint): boolean {
  if (!ports || ports.length === 0) return true
  return ports.some((rule) => {
    if ((rule.protocol ?? 'TCP') !== protocol) return false
    if (rule.port === undefined) return true
    const number = typeof rule.port === 'number' ? rule.port : (target.ports?.[rule.port] ?? Number(rule.port))
    if (Number.isNaN(number)) return false
    return rule.endPort !== undefined ? port >= number && port <= rule.endPort : port === number
  })
}

/** Whether some policy that isolates `pod` in `direction` has a rule allowing `other` on the port; true when none isolates it. */
function sideAllows(
  policies: readonly NetworkPolicy[],
  pod: PodEndpoint,
  direction: Direction,
  other: Source,
  port: number,
  protocol: string,
  target: PodEndpoint,
): boolean {
  const isolating = policies.filter((policy) => appliesTo(policy, pod, direction))
  if (isolating.length === 0) return true
  return isolating.some((policy) => {
    const rules = (direction === 'Ingress' ? policy.spec?.ingress : policy.spec?.egress) ?? []
    return rules.some((rule) => {
      const peers = ((rule as { from?: Peer[]; to?: Peer[] })[direction === 'Ingress' ? 'from' : 'to'] ?? []) as Peer[]
      const peerOk = peers.length === 0 || peers.some((peer) => peerMatches(peer, other, policy.metadata!.namespace!))
      return peerOk && portMatches(rule.ports, port, protocol, target)
    })
  })
}

/** Whether the policies let this connection through: the target's ingress, and the source pod's egress. */
export function allows(policies: readonly NetworkPolicy[], connection: Connection): boolean {
  const protocol = connection.protocol ?? 'TCP'
  const { from, to, port } = connection
  const ingress = sideAllows(policies, to, 'Ingress', from, port, protocol, to)
  if (!ingress || !('pod' in from)) return ingress
  return sideAllows(policies, from.pod, 'Egress', { pod: to }, port, protocol, to)
}
