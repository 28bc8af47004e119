// The network checks judged on observations: recorded on a kind cluster whose pod network is
// kube-router (fixtures/network-policy.kind.json: the checks as written; and the same pods with
// both policies deleted, which is also what a CNI that ignores NetworkPolicy shows), and
// hand-made variants for the failures a hint names.
import { describe, expect, it } from 'vitest'
import type { Check } from '../../scripts/lib/checks/check.ts'
import {
  allowedReaches,
  deniedRefused,
  dnsResolves,
  networkCheckObjects,
  networkPolicyChecks,
  serviceAddressesStayInside,
  unusedServiceAddress,
  type DnsObservation,
  type ReachObservation,
} from '../../scripts/lib/cluster/network-checks.ts'
import { failure, recordedFor } from './recorded.ts'
import recorded from './fixtures/network-policy.kind.json' with { type: 'json' }
// The same namespace after `kubectl delete networkpolicy --all`: nothing keeps the other client out.
import noPolicies from './fixtures/network-policy-no-policies.kind.json' with { type: 'json' }
// The same cluster without the rule that drops untranslated Service addresses, on a network whose
// gateway answers every connection (this machine's): a 404 from outside the cluster.
import strayAnswered from './fixtures/network-service-address-answered.kind.json' with { type: 'json' }

describe('network checks on observations recorded from kind with kube-router', () => {
  it('every check passes on what the cluster showed', () => {
    const checks: readonly Check[] = networkPolicyChecks
    for (const item of checks) expect(item.evaluate(recordedFor(item, recorded)), item.title).toEqual({ pass: true })
  })

  it('need running containers, and only the first one sets up the experiment', () => {
    expect(networkPolicyChecks.map((c) => c.needs)).toEqual(['pods', 'pods', 'pods', 'pods'])
    expect(networkPolicyChecks.filter((c) => c.act)).toEqual([dnsResolves])
  })

  it('fails the denied client when no policy stands in its way, naming NetworkPolicy enforcement (recorded)', () => {
    const verdict = failure(deniedRefused.evaluate(recordedFor(deniedRefused, noPolicies)))
    expect(verdict.seen).toContain('the server answered it')
    expect(verdict.hint).toContain('NetworkPolicy is not enforced')
    // The allowed path does not depend on the policies.
    expect(allowedReaches.evaluate(recordedFor(allowedReaches, noPolicies))).toEqual({ pass: true })
  })
})

describe('DNS', () => {
  const base = () => recordedFor(dnsResolves, recorded) as DnsObservation

  it('fails when a client resolves nothing, pointing at CoreDNS', () => {
    const observation = base()
    observation.clients[1]!.answer = { error: 'EAI_AGAIN' }
    const verdict = failure(dnsResolves.evaluate(observation))
    expect(verdict.seen).toBe('lookup failed: EAI_AGAIN')
    expect(verdict.hint).toContain('CoreDNS')
  })

  it('fails when the name resolves to another address', () => {
    const observation = base()
    observation.clients[0]!.answer = { addresses: ['10.0.0.1'] }
    expect(failure(dnsResolves.evaluate(observation)).seen).toBe('resolved to 10.0.0.1')
  })

  it('waits for clients that cannot start, and says when the workload image is missing', () => {
    const observation = base()
    observation.clients[0] = {
      pod: { name: 'client-allowed', node: 'netpol-worker2', ready: false, waiting: 'ErrImageNeverPull' },
    }
    const verdict = failure(dnsResolves.evaluate(observation))
    expect(verdict.seen).toBe('client-allowed is ErrImageNeverPull')
    expect(verdict.hint).toContain('kind load docker-image')
  })
})

describe('the allowed path', () => {
  const base = () => recordedFor(allowedReaches, recorded) as ReachObservation

  it('crosses nodes: client and server on one node is a failed setup, not a pass', () => {
    const observation = base()
    observation.client!.node = observation.server!.node
    expect(failure(allowedReaches.evaluate(observation)).seen).toBe(`both on ${observation.server!.node}`)
  })

  it('fails on a timeout, pointing at the routes between nodes', () => {
    const verdict = failure(allowedReaches.evaluate({ ...base(), attempt: { outcome: 'timeout' } }))
    expect(verdict.seen).toBe('timeout')
    expect(verdict.hint).toContain('BGP')
  })

  it('fails when refused, pointing at the allow policy', () => {
    const verdict = failure(
      allowedReaches.evaluate({ ...base(), attempt: { outcome: 'refused', detail: 'ECONNREFUSED' } }),
    )
    expect(verdict.hint).toContain('server-from-allowed-client')
  })

  it('says a client pending for want of a second node', () => {
    const observation = base()
    observation.client = { name: 'client-allowed', ready: false }
    expect(failure(allowedReaches.evaluate(observation)).hint).toContain('two schedulable nodes')
  })
})

describe('the denied path', () => {
  const base = () => recordedFor(deniedRefused, recorded) as ReachObservation

  it('passes on a refusal or a timeout, both what a policy does', () => {
    expect(deniedRefused.evaluate({ ...base(), attempt: { outcome: 'refused', detail: 'ECONNREFUSED' } })).toEqual({
      pass: true,
    })
    expect(deniedRefused.evaluate({ ...base(), attempt: { outcome: 'timeout' } })).toEqual({ pass: true })
  })

  it('fails on any other error, which a policy does not cause', () => {
    expect(failure(deniedRefused.evaluate({ ...base(), attempt: { outcome: 'error', detail: 'EPIPE' } })).seen).toBe(
      'error (EPIPE)',
    )
  })
})

describe('the experiment', () => {
  const objects = networkCheckObjects('lab-network-policy', 'multi-node-serving-lab/workloads:0.1.0')
  type PodLike = {
    spec: {
      securityContext: { runAsNonRoot?: boolean; seccompProfile?: { type: string } }
      containers: {
        securityContext: { allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[]; add?: string[] } }
      }[]
    }
  }

  it('runs in a namespace that enforces the restricted Pod Security Standard', () => {
    const namespace = objects.find((o) => o.kind === 'Namespace')!
    expect(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted')
  })

  it('has pods that pass it: non-root, no privilege escalation, every capability dropped, RuntimeDefault seccomp', () => {
    const pods = objects.filter((o) => o.kind === 'Pod') as unknown as PodLike[]
    expect(pods).toHaveLength(3)
    for (const pod of pods) {
      expect(pod.spec.securityContext.runAsNonRoot).toBe(true)
      expect(pod.spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' })
      for (const container of pod.spec.containers) {
        expect(container.securityContext.allowPrivilegeEscalation).toBe(false)
        expect(container.securityContext.capabilities).toEqual({ drop: ['ALL'] })
      }
    }
  })

  it('denies all ingress in the namespace and lets only the allowed client reach the server', () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as {
      metadata: { name: string }
      spec: Record<string, unknown>
    }[]
    expect(policies.map((p) => p.metadata.name)).toEqual(['default-deny-ingress', 'server-from-allowed-client'])
    expect(policies[0]!.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] })
  })
})

describe('a Service address no rule translates', () => {
  it('fails when something outside the cluster answers it (recorded), pointing at the rule that drops it', () => {
    const verdict = failure(serviceAddressesStayInside.evaluate(recordedFor(serviceAddressesStayInside, strayAnswered)))
    expect(verdict.seen).toBe('answered (404)')
    expect(verdict.hint).toContain('iptables -t mangle -S POSTROUTING')
  })

  it('fails without a ServiceCIDR to take the address from', () => {
    expect(failure(serviceAddressesStayInside.evaluate({ cidr: null, client: null })).hint).toContain('servicecidrs')
  })

  it('takes the highest address of the range that no Service holds', () => {
    expect(unusedServiceAddress('10.96.0.0/16', [])).toBe('10.96.255.254')
    expect(unusedServiceAddress('10.96.0.0/16', ['10.96.255.254', '10.96.255.253'])).toBe('10.96.255.252')
    expect(unusedServiceAddress('10.0.0.0/30', ['10.0.0.2'])).toBe('10.0.0.1')
    expect(() => unusedServiceAddress('10.0.0.0/30', ['10.0.0.1', '10.0.0.2'])).toThrow(/every address/)
  })
})
