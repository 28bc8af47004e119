// The NetworkPolicy evaluator on small policies whose verdicts the Kubernetes documentation
// states: isolation per direction, peers in the policy's namespace or selected namespaces, named
// and numbered ports, and both ends of a connection.
import { describe, expect, it } from 'vitest'
import {
  allows,
  policyTypesOf,
  selects,
  type NetworkPolicy,
  type PodEndpoint,
} from '../../scripts/lib/network-policy.ts'

const ns = (name: string) => ({ namespace: name, namespaceLabels: { 'kubernetes.io/metadata.name': name } })
const server: PodEndpoint = { ...ns('lab'), labels: { app: 'server' }, ports: { http: 8000 } }
const client: PodEndpoint = { ...ns('lab'), labels: { app: 'client' } }
const stranger: PodEndpoint = { ...ns('lab'), labels: { app: 'stranger' } }
const outsider: PodEndpoint = { ...ns('other'), labels: { app: 'client' } }

const policy = (spec: NetworkPolicy['spec'], namespace = 'lab'): NetworkPolicy => ({
  metadata: { name: 'p', namespace },
  spec,
})
const denyAll = policy({ podSelector: {}, policyTypes: ['Ingress'] })
const serverFromClient = policy({
  podSelector: { matchLabels: { app: 'server' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }],
})

describe('label selectors', () => {
  it('match labels and expressions; an empty selector selects everything', () => {
    expect(selects({}, { a: '1' })).toBe(true)
    expect(selects({ matchLabels: { a: '1' } }, { a: '2' })).toBe(false)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] }, { a: '2' })).toBe(true)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['2'] }] }, { a: '2' })).toBe(false)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, {})).toBe(true)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, {})).toBe(false)
  })
})

describe('ingress', () => {
  it('leaves a pod no policy selects open, and a default deny closes it', () => {
    expect(allows([], { from: { pod: stranger }, to: server, port: 8000 })).toBe(true)
    expect(allows([denyAll], { from: { pod: client }, to: server, port: 8000 })).toBe(false)
  })

  it('admits the selected pods of its own namespace on the named port only', () => {
    const policies = [denyAll, serverFromClient]
    expect(allows(policies, { from: { pod: client }, to: server, port: 8000 })).toBe(true)
    expect(allows(policies, { from: { pod: client }, to: server, port: 9000 })).toBe(false)
    expect(allows(policies, { from: { pod: client }, to: server, port: 8000, protocol: 'UDP' })).toBe(false)
    expect(allows(policies, { from: { pod: stranger }, to: server, port: 8000 })).toBe(false)
    // A podSelector alone means this namespace: the same labels elsewhere are not admitted.
    expect(allows(policies, { from: { pod: outsider }, to: server, port: 8000 })).toBe(false)
  })

  it('reads an empty namespaceSelector as every pod of every namespace, and never as a host', () => {
    const anyPod = policy({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })
    expect(allows([anyPod], { from: { pod: outsider }, to: server, port: 8000 })).toBe(true)
    expect(allows([anyPod], { from: { host: 'control-plane' }, to: server, port: 8000 })).toBe(false)
    const byPort = policy({ podSelector: {}, ingress: [{ ports: [{ port: 8000 }] }] })
    expect(allows([byPort], { from: { host: 'control-plane' }, to: server, port: 8000 })).toBe(true)
  })

  it('needs both selectors when a peer has both, and takes a port range', () => {
    const both = policy({
      podSelector: {},
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } },
              podSelector: { matchLabels: { app: 'x' } },
            },
          ],
          ports: [{ port: 7000, endPort: 8000 }],
        },
      ],
    })
    expect(allows([both], { from: { pod: outsider }, to: server, port: 8000 })).toBe(false)
    expect(allows([both], { from: { pod: { ...outsider, labels: { app: 'x' } } }, to: server, port: 7500 })).toBe(true)
  })

  it('ignores a policy of another namespace', () => {
    expect(
      allows([policy({ podSelector: {}, policyTypes: ['Ingress'] }, 'other')], {
        from: { pod: client },
        to: server,
        port: 8000,
      }),
    ).toBe(true)
  })
})

describe('egress', () => {
  it('counts Egress as isolated when listed, or when the policy has egress rules', () => {
    expect(policyTypesOf(policy({ podSelector: {} }))).toEqual(['Ingress'])
    expect(policyTypesOf(policy({ podSelector: {}, egress: [] }))).toEqual(['Ingress', 'Egress'])
  })

  it("refuses a connection the source's egress does not allow, whatever the target admits", () => {
    const denyEgress = policy({ podSelector: {}, policyTypes: ['Egress'] })
    expect(allows([denyEgress], { from: { pod: client }, to: server, port: 8000 })).toBe(false)
    const dns = policy({
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { port: 53, protocol: 'UDP' },
            { port: 53, protocol: 'TCP' },
          ],
        },
      ],
    })
    const coredns: PodEndpoint = { ...ns('kube-system'), labels: { 'k8s-app': 'kube-dns' } }
    expect(allows([dns], { from: { pod: client }, to: coredns, port: 53, protocol: 'UDP' })).toBe(true)
    expect(allows([dns], { from: { pod: client }, to: server, port: 8000 })).toBe(false)
  })
})
