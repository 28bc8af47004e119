// The kube-router CNI manifest kind installs from the node image, read as kind reads it: the
// magic comment that makes kind add CONTROL_PLANE_ENDPOINT, the container that receives it, the
// image put in by code, and a ClusterRole that only reads.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import {
  IMAGE_PLACEHOLDER,
  kubeRouterDir,
  kubeRouterTag,
  putImage,
  renderCniManifest,
} from '../../scripts/lib/build/kube-router.ts'

const TAG = 'serving-lab.local/kube-router:v2.1.0-0123456789ab'

interface Container {
  name: string
  image: string
  imagePullPolicy?: string
  args?: string[]
  env?: { name: string }[]
  livenessProbe?: { httpGet?: { port: number } }
  securityContext?: { privileged?: boolean; capabilities?: { drop?: string[]; add?: string[] } }
  resources?: { requests?: Record<string, string> }
}

interface Doc {
  kind: string
  metadata: { name: string; namespace?: string }
  spec: {
    template: {
      spec: {
        hostNetwork?: boolean
        priorityClassName?: string
        tolerations?: unknown[]
        initContainers: Container[]
        containers: Container[]
      }
    }
  }
  rules: { verbs: string[] }[]
  data: Record<string, string>
  subjects: unknown[]
  roleRef: { name: string }
}

async function objects(): Promise<Doc[]> {
  return parseAllDocuments(await renderCniManifest(TAG)).map((doc) => doc.toJS() as Doc)
}

describe('the kube-router CNI manifest', () => {
  it('asks kind to patch it, and does not ask to be templated (no template syntax in it)', async () => {
    const raw = await readFile(join(kubeRouterDir, 'default-cni.yaml'), 'utf8')
    expect(raw).toContain('would you kindly patch this file')
    expect(raw).not.toContain('would you kindly template this file')
  })

  it('runs the image it is given, in every container, pulled only if not present', async () => {
    const ds = (await objects()).find((o) => o.kind === 'DaemonSet')!
    const containers = [...ds.spec.template.spec.initContainers, ...ds.spec.template.spec.containers]
    expect(containers.map((c) => c.image)).toEqual([TAG, TAG])
    expect(containers.every((c) => c.imagePullPolicy === 'IfNotPresent')).toBe(true)
    expect(await renderCniManifest(TAG)).not.toContain(IMAGE_PLACEHOLDER)
  })

  it('refuses a manifest without the placeholder, so a hard-coded image cannot slip in', () => {
    expect(() => putImage('image: somewhere/else:1', TAG)).toThrow(IMAGE_PLACEHOLDER)
  })

  it('gives kind an env list on the first container to append CONTROL_PLANE_ENDPOINT to', async () => {
    const ds = (await objects()).find((o) => o.kind === 'DaemonSet')!
    const first = ds.spec.template.spec.containers[0]!
    expect(first.name).toBe('kube-router')
    expect(Array.isArray(first.env)).toBe(true)
    expect(first.env!.map((e) => e.name)).toContain('KUBE_ROUTER_CNI_CONF_FILE')
  })

  it('runs on every node as a node-critical host-network pod, not privileged, with a liveness probe on its health port', async () => {
    const ds = (await objects()).find((o) => o.kind === 'DaemonSet')!
    const spec = ds.spec.template.spec
    expect(ds.metadata.namespace).toBe('kube-system')
    expect(spec.hostNetwork).toBe(true)
    expect(spec.priorityClassName).toBe('system-node-critical')
    expect(spec.tolerations).toContainEqual({ operator: 'Exists', effect: 'NoSchedule' })
    const router = spec.containers[0]!
    expect(router.args).toEqual(
      expect.arrayContaining([
        '--run-router=true',
        '--run-firewall=true',
        '--run-service-proxy=false',
        '--health-port=20244',
      ]),
    )
    expect(router.livenessProbe?.httpGet?.port).toBe(20244)
    expect(router.resources?.requests).toBeDefined()
    expect(router.securityContext?.privileged).toBeUndefined()
    expect(router.securityContext?.capabilities).toEqual({
      drop: ['ALL'],
      add: ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE', 'SYS_MODULE'],
    })
  })

  it('installs a bridge conflist that names the file kube-router completes with its pod CIDR', async () => {
    const all = await objects()
    const config = all.find((o) => o.kind === 'ConfigMap')!
    const conflist = JSON.parse(config.data['10-kube-router.conflist']!) as {
      plugins: { type: string; ipam?: { type: string } }[]
    }
    expect(conflist.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap'])
    expect(conflist.plugins[0]!.ipam).toEqual({ type: 'host-local' })
    const router = all.find((o) => o.kind === 'DaemonSet')!.spec.template.spec.containers[0]!
    expect(router.env).toContainEqual({
      name: 'KUBE_ROUTER_CNI_CONF_FILE',
      value: '/etc/cni/net.d/10-kube-router.conflist',
    })
  })

  it('binds a ClusterRole that reads and never writes', async () => {
    const all = await objects()
    const role = all.find((o) => o.kind === 'ClusterRole')!
    const verbs = new Set(role.rules.flatMap((rule) => rule.verbs))
    expect([...verbs].sort()).toEqual(['get', 'list', 'watch'])
    const binding = all.find((o) => o.kind === 'ClusterRoleBinding')!
    expect(binding.roleRef.name).toBe('kube-router')
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'kube-router', namespace: 'kube-system' }])
  })
})

describe('the kube-router image tag', () => {
  const inputs = [
    { path: 'images/kube-router/Dockerfile', bytes: Buffer.from('FROM x') },
    { path: 'kube-router', bytes: Buffer.from('binary') },
  ]

  it('is the pinned version and a content hash', () => {
    expect(kubeRouterTag(inputs)).toMatch(/^serving-lab\.local\/kube-router:v2\.1\.0-[0-9a-f]{12}$/)
  })

  it('changes when any input does', () => {
    const changed = [inputs[0]!, { path: 'kube-router', bytes: Buffer.from('binary2') }]
    expect(kubeRouterTag(changed)).not.toBe(kubeRouterTag(inputs))
  })
})
