import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exec } from '../../scripts/lib/exec.ts'
import { certificateRequests } from '../../scripts/lib/cluster/nodes.ts'
import { kubeconfig, makePki } from '../../scripts/lib/cluster/pki.ts'

// The nodes provider's certificates, made by the real openssl CLI and read back by openssl.
describe('makePki', () => {
  let dir: string
  const requests = certificateRequests('lab-control-plane', ['gpu-0'])
  const openssl = (args: string[]) => exec('openssl', args, { cwd: dir })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'serving-lab-pki-'))
    await makePki(dir, requests)
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('signs every certificate with the cluster CA', async () => {
    for (const { file } of requests) expect(await openssl(['verify', '-CAfile', 'ca.crt', `${file}.crt`])).toContain(`${file}.crt: OK`)
  })

  it('puts the Service IP and the names pods and nodes dial in the API server certificate', async () => {
    const names = await openssl(['x509', '-in', 'apiserver.crt', '-noout', '-ext', 'subjectAltName,extendedKeyUsage'])
    expect(names).toContain('IP Address:10.96.0.1')
    expect(names).toContain('DNS:kubernetes.default.svc.cluster.local')
    expect(names).toContain('DNS:lab-control-plane')
    expect(names).toContain('TLS Web Server Authentication')
  })

  it("writes a kubelet's groups and user where Kubernetes reads them: O and CN", async () => {
    const subject = await openssl(['x509', '-in', 'kubelet-gpu-0.crt', '-noout', '-subject', '-ext', 'extendedKeyUsage'])
    expect(subject).toMatch(/O\s*=\s*system:nodes, CN\s*=\s*system:node:gpu-0/)
    expect(subject).toContain('TLS Web Client Authentication')
    expect(subject).not.toContain('Server Authentication')
  })

  it('makes a service-account key pair whose halves match', async () => {
    const fromPrivate = await openssl(['ec', '-in', 'sa.key', '-pubout'])
    expect(fromPrivate.trim()).toBe((await readFile(join(dir, 'sa.pub'), 'utf8')).trim())
  })

  it('writes a kubeconfig that client-node loads, with the certificates embedded', async () => {
    const path = join(dir, 'admin.kubeconfig')
    await writeFile(path, await kubeconfig(dir, { server: 'https://127.0.0.1:6443', user: 'admin', file: 'admin' }))
    const config = new KubeConfig()
    config.loadFromFile(path)
    expect(config.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443')
    expect(Buffer.from(config.getCurrentUser()!.certData!, 'base64').toString()).toBe(await readFile(join(dir, 'admin.crt'), 'utf8'))
  })
})
