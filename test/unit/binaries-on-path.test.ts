// Binaries on PATH are used when they are the pinned version, and only then.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'

const versions: Record<string, string> = {
  'kube-apiserver': 'Kubernetes v1.34.12',
  'kube-controller-manager': 'Kubernetes v1.34.12',
  'kube-scheduler': 'Kubernetes v1.34.12',
  kubectl: 'Client Version: v1.34.12',
  kubelet: 'Kubernetes v1.34.12',
  'kube-proxy': 'Kubernetes v1.34.12',
  kubeadm: 'v1.34.12',
  etcd: 'etcd Version: 3.6.4',
  kwok: 'kwok version v0.8.0',
  kwokctl: 'kwokctl version v0.8.0',
}

function fakeBin(overrides: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'serving-lab-bin-'))
  for (const [name, version] of Object.entries({ ...versions, ...overrides })) {
    writeFileSync(join(dir, name), `#!/bin/sh\necho "${version}"\n`)
    chmodSync(join(dir, name), 0o755)
  }
  return dir
}

async function lookUp(bin: string) {
  vi.stubEnv('SERVING_LAB_CACHE', mkdtempSync(join(tmpdir(), 'serving-lab-empty-cache-')))
  vi.stubEnv('PATH', `${bin}:/usr/bin:/bin`)
  vi.resetModules()
  const { cachedBinaries } = await import('../../scripts/lib/build/binaries.ts')
  return cachedBinaries()
}

afterEach(() => vi.unstubAllEnvs())

describe('binaries found on PATH', () => {
  it('are used when every one reports the pinned version', async () => {
    const bin = fakeBin()
    const found = await lookUp(bin)
    expect(found?.['kube-apiserver']).toBe(join(bin, 'kube-apiserver'))
    expect(found?.kwokctl).toBe(join(bin, 'kwokctl'))
  })

  it('are not used when one is another version', async () => {
    expect(await lookUp(fakeBin({ 'kube-scheduler': 'Kubernetes v1.33.1' }))).toBeUndefined()
  })
})
