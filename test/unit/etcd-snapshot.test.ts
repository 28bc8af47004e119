import { describe, expect, it } from 'vitest'
import { controlPlaneNode, ETCD_PKI, snapshotCommands } from '../../scripts/lib/etcd-snapshot.ts'

describe('the etcd snapshot of a kind cluster', () => {
  const commands = snapshotCommands(controlPlaneNode('serving-lab'), '/cache/bin/etcdctl', '/tmp/out/snap.db')

  it('runs in the control-plane node that kind names after the cluster', () => {
    expect(controlPlaneNode('serving-lab')).toBe('serving-lab-control-plane')
    for (const { args } of commands) expect(args.join(' ')).toContain('serving-lab-control-plane')
  })

  it('copies etcdctl in, saves with kubeadm’s etcd certificates, copies the file out and cleans up, in that order', () => {
    expect(commands.map((c) => c.args.slice(0, 1)[0])).toEqual(['cp', 'exec', 'cp', 'exec'])
    const [copyIn, save, copyOut, cleanUp] = commands.map((c) => c.args)
    expect(copyIn).toEqual(['cp', '/cache/bin/etcdctl', 'serving-lab-control-plane:/tmp/serving-lab-etcdctl'])
    expect(save).toEqual([
      'exec',
      'serving-lab-control-plane',
      '/tmp/serving-lab-etcdctl',
      '--endpoints=https://127.0.0.1:2379',
      `--cacert=${ETCD_PKI}/ca.crt`,
      `--cert=${ETCD_PKI}/healthcheck-client.crt`,
      `--key=${ETCD_PKI}/healthcheck-client.key`,
      'snapshot',
      'save',
      '/tmp/serving-lab-etcd-snapshot.db',
    ])
    expect(copyOut).toEqual(['cp', 'serving-lab-control-plane:/tmp/serving-lab-etcd-snapshot.db', '/tmp/out/snap.db'])
    expect(cleanUp).toEqual([
      'exec',
      'serving-lab-control-plane',
      'rm',
      '-f',
      '/tmp/serving-lab-etcd-snapshot.db',
      '/tmp/serving-lab-etcdctl',
    ])
  })
})
