import { exec } from '../../exec.ts'
import type { EmitEvent } from '../../output.ts'

/** The Services' addresses (kind's default, written into its config so that it is stated once). */
export const SERVICE_SUBNET = '10.96.0.0/16'

/**
 * A ClusterIP is no machine's address: kube-proxy's NAT rules rewrite a connection to it into one
 * to a pod. A packet still addressed to one when it leaves the node (sent in the moment between a
 * Service's endpoints turning ready and kube-proxy's rules for them) follows the default route.
 * Most networks answer it with nothing, and the client tries again; but a network whose gateway
 * answers every connection (a sandbox, a proxy that intercepts all TLS) accepts it, and a client
 * that keeps its connections alive keeps talking to that stranger. kube-apiserver's APIService
 * availability probe did: it got the gateway's 404 on every round, and the APIService stayed
 * unavailable. This rule, after every NAT, drops such packets, as a network that routes nothing
 * there would; the client's next try goes through kube-proxy's rules.
 */
export const SERVICE_ADDRESS_RULE = [
  'POSTROUTING',
  '--destination',
  SERVICE_SUBNET,
  '--match',
  'conntrack',
  '!',
  '--ctstate',
  'DNAT',
  '--match',
  'comment',
  '--comment',
  'serving-lab: a ClusterIP that kube-proxy did not translate leaves no node',
  '--jump',
  'DROP',
]

/** Adds the rule to each node's mangle table once: `--check` first, so that running it again adds nothing. */
export async function keepServiceAddressesInside(nodes: readonly string[], emit: EmitEvent): Promise<void> {
  const iptables = (node: string, action: string) =>
    exec('docker', ['exec', node, 'iptables', '--table', 'mangle', action, ...SERVICE_ADDRESS_RULE])
  for (const node of nodes) {
    const present = await iptables(node, '--check').then(
      () => true,
      () => false,
    )
    if (!present) await iptables(node, '--append')
  }
  emit({
    kind: 'progress',
    message: `packets to a Service address (${SERVICE_SUBNET}) that kube-proxy did not translate stay on the nodes`,
  })
}
