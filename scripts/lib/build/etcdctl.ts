import { join } from 'node:path'
import { binDir, ensureModuleBinary, toolsGo, VERSIONS } from './binaries.ts'
import type { EmitEvent } from '../output.ts'

const ETCDCTL_MODULE = 'go.etcd.io/etcd/etcdctl/v3'

export const etcdctlPath = () => join(binDir(`etcdctl-${VERSIONS.etcd}`), 'etcdctl')

/**
 * etcdctl at the etcd version the lab's nodes run: the node image carries the etcd server alone
 * (binaries.ts builds `etcd`, not its client), and an etcd snapshot needs the client. Its own
 * module, required as a dependency (so etcd's replace directives, which `go install` refuses,
 * do not apply), built with the same Go build cache; static, so it runs inside any node.
 */
export function ensureEtcdctl(emit: EmitEvent): Promise<string> {
  return ensureModuleBinary(
    etcdctlPath(),
    `etcdctl ${VERSIONS.etcd}`,
    {
      group: `etcdctl-${VERSIONS.etcd}`,
      files: {
        'go.mod': `module serving-lab.local/etcdctl-binaries\n\ngo 1.24.0\n\nrequire ${ETCDCTL_MODULE} ${VERSIONS.etcd}\n`,
        'tools.go': toolsGo([ETCDCTL_MODULE]),
      },
      packages: [ETCDCTL_MODULE],
      ldflags: '',
      coldEstimate: 'about 2 min on 2 cores',
    },
    emit,
  )
}
