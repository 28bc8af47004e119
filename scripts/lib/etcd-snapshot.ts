// An etcd snapshot of a kind cluster: the whole API state (every namespace, every CRD, the
// cluster's own objects), where a backup of the lab's objects (backup.ts) holds one step. The
// lab's node image carries the etcd server alone, so the lab's etcdctl (build/etcdctl.ts) is
// copied into the control-plane node, run there against etcd with kubeadm's certificates, and
// the snapshot copied out. Untested on a real kind cluster so far: the unit test checks the
// commands it runs.
import { dirname } from 'node:path'
import { chmod, mkdir } from 'node:fs/promises'
import { ensureEtcdctl } from './build/etcdctl.ts'
import { exec } from './exec.ts'
import type { EmitEvent } from './output.ts'

/** Where kubeadm keeps etcd's CA and the client certificate its own health check uses. */
export const ETCD_PKI = '/etc/kubernetes/pki/etcd'
/** Paths inside the node: out of the way of what kubeadm and kind manage. */
const ETCDCTL_IN_NODE = '/tmp/serving-lab-etcdctl'
const SNAPSHOT_IN_NODE = '/tmp/serving-lab-etcd-snapshot.db'

/** kind names the only control-plane node of cluster `lab` `lab-control-plane`. */
export const controlPlaneNode = (cluster: string) => `${cluster}-control-plane`

export interface DockerCommand {
  what: string
  args: string[]
}

/** The docker commands that take the snapshot, in order: copy etcdctl in, save, copy the file out, clean up. */
export function snapshotCommands(node: string, etcdctl: string, out: string): DockerCommand[] {
  const etcdctlArgs = [
    ETCDCTL_IN_NODE,
    // etcd listens on the node's loopback too (kubeadm's --listen-client-urls).
    '--endpoints=https://127.0.0.1:2379',
    `--cacert=${ETCD_PKI}/ca.crt`,
    `--cert=${ETCD_PKI}/healthcheck-client.crt`,
    `--key=${ETCD_PKI}/healthcheck-client.key`,
  ]
  return [
    { what: 'copy etcdctl into the node', args: ['cp', etcdctl, `${node}:${ETCDCTL_IN_NODE}`] },
    { what: 'save the snapshot', args: ['exec', node, ...etcdctlArgs, 'snapshot', 'save', SNAPSHOT_IN_NODE] },
    { what: 'copy the snapshot out', args: ['cp', `${node}:${SNAPSHOT_IN_NODE}`, out] },
    { what: 'remove the copies from the node', args: ['exec', node, 'rm', '-f', SNAPSHOT_IN_NODE, ETCDCTL_IN_NODE] },
  ]
}

/** Takes an etcd snapshot of the kind cluster into `out` (a file on this machine); returns its path. */
export async function takeEtcdSnapshot(cluster: string, out: string, emit: EmitEvent): Promise<string> {
  const etcdctl = await ensureEtcdctl(emit)
  await mkdir(dirname(out), { recursive: true })
  for (const { what, args } of snapshotCommands(controlPlaneNode(cluster), etcdctl, out)) {
    emit({ kind: 'progress', message: what })
    await exec('docker', args)
  }
  // Every Secret of the cluster is in it.
  await chmod(out, 0o600)
  return out
}
