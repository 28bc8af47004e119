import { describe, expect, it } from 'vitest'
import { consumerGoMod, VERSIONS, versionLdflags } from '../../scripts/lib/build/binaries.ts'

const upstreamGoMod = `module k8s.io/kubernetes

go 1.24.0

require (
	k8s.io/api v0.0.0
	go.etcd.io/etcd/server/v3 v3.6.4 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/kube-openapi => k8s.io/kube-openapi v0.0.0-20250710124328-f3f2b991d03b
)
`

describe('consumerGoMod', () => {
  it('replaces each staging module with its published v0 version, and only those', () => {
    const mod = consumerGoMod(upstreamGoMod)
    expect(mod).toContain('\tk8s.io/api => k8s.io/api v0.34.12\n')
    expect(mod).toContain('\tk8s.io/client-go => k8s.io/client-go v0.34.12\n')
    expect(mod).not.toContain('kube-openapi')
    expect(mod).toContain(`\tk8s.io/kubernetes ${VERSIONS.kubernetes}\n`)
    expect(mod).toContain(`\tgo.etcd.io/etcd/server/v3 ${VERSIONS.etcd}\n`)
    expect(mod).toContain('\ngo 1.24.0\n')
  })

  it('refuses a go.mod without staging replacements', () => {
    expect(() => consumerGoMod('module x\n\ngo 1.24.0\n')).toThrow(/no staging replacements/)
  })
})

describe('versionLdflags', () => {
  it('stamps both version packages the way upstream builds do', () => {
    const flags = versionLdflags(new Date('2026-01-02T03:04:05.678Z'))
    for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
      expect(flags).toContain(`-X ${pkg}.gitVersion=v1.34.12`)
      expect(flags).toContain(`-X ${pkg}.gitMajor=1`)
      expect(flags).toContain(`-X ${pkg}.gitMinor=34`)
      expect(flags).toContain(`-X ${pkg}.gitTreeState=clean`)
      expect(flags).toContain(`-X ${pkg}.buildDate=2026-01-02T03:04:05Z`)
    }
  })
})
