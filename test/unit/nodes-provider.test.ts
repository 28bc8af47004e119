import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { parseManifests } from '../../scripts/lib/manifests.ts'
import { COREDNS_IMAGE, nodesDir, PAUSE_IMAGE } from '../../scripts/lib/cluster/node-images.ts'
import { certificateRequests, cniConfig, kubeletConfig, kubeProxyConfig, POD_CIDR, SERVICE_CIDR } from '../../scripts/lib/cluster/nodes.ts'
import { imagesOnEveryNode } from '../../scripts/lib/cluster/provider.ts'

const nodeFile = (name: string) => readFile(join(nodesDir, name), 'utf8')

describe('the nodes provider: certificates', () => {
  const requests = certificateRequests('serving-lab-control-plane', ['gpu-0', 'gpu-1'])
  const byFile = Object.fromEntries(requests.map((r) => [r.file, r]))

  it('lets pods (by the kubernetes Service) and nodes (by container name) reach the API server', () => {
    const apiserver = byFile.apiserver!
    expect(apiserver.usage).toBe('server')
    expect(apiserver.ips).toContain('10.96.0.1')
    expect(apiserver.dnsNames).toEqual(expect.arrayContaining(['kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'serving-lab-control-plane']))
  })

  it('gives every kubelet its own identity in system:nodes, which the Node authorizer requires', () => {
    expect(byFile['kubelet-gpu-0']).toMatchObject({ commonName: 'system:node:gpu-0', organization: 'system:nodes', usage: 'client' })
    expect(byFile['kubelet-gpu-1']).toMatchObject({ commonName: 'system:node:gpu-1', organization: 'system:nodes', usage: 'client' })
  })

  it('names the components as the default RBAC bindings expect, and gives only the admins system:masters', () => {
    expect(byFile['controller-manager']!.commonName).toBe('system:kube-controller-manager')
    expect(byFile.scheduler!.commonName).toBe('system:kube-scheduler')
    expect(byFile['kube-proxy']!.commonName).toBe('system:kube-proxy')
    const masters = requests.filter((r) => r.organization === 'system:masters').map((r) => r.file).sort()
    expect(masters).toEqual(['admin', 'apiserver-kubelet-client'])
  })
})

describe('the nodes provider: node configuration', () => {
  it('gives each node its own cgroup root, since all nodes share the host hierarchy', () => {
    const roots = ['gpu-0', 'gpu-1'].map((node) => (parse(kubeletConfig('lab', node)) as { cgroupRoot: string }).cgroupRoot)
    expect(new Set(roots).size).toBe(2)
    expect(roots[0]).toBe('/serving-lab-lab/gpu-0')
  })

  it('lets only authenticated, authorized callers use the kubelet API', () => {
    const config = parse(kubeletConfig('lab', 'gpu-0')) as { authentication: { anonymous: { enabled: boolean } }; authorization: { mode: string } }
    expect(config.authentication.anonymous.enabled).toBe(false)
    expect(config.authorization.mode).toBe('Webhook')
  })

  it('points pods at the CoreDNS Service, on the port its container listens on', async () => {
    const objects = parseManifests(await nodeFile('coredns.yaml'))
    const service = objects.find((o) => o.kind === 'Service') as unknown as { spec: { clusterIP: string; ports: { port: number; targetPort: number }[] } }
    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { image: string; ports: { containerPort: number }[] }[] } } } }
    const configMap = objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: { Corefile: string } }
    const { clusterDNS } = parse(kubeletConfig('lab', 'gpu-0')) as { clusterDNS: string[] }
    expect(clusterDNS).toEqual([service.spec.clusterIP])
    const container = deployment.spec.template.spec.containers[0]!
    expect(container.image).toBe(COREDNS_IMAGE)
    const listen = Number(/^\.:(\d+) \{/m.exec(configMap.data.Corefile)![1])
    expect(service.spec.ports.filter((p) => p.port === 53).map((p) => p.targetPort)).toEqual([listen, listen])
    expect(container.ports.map((p) => p.containerPort)).toContain(listen)
    expect(SERVICE_CIDR).toBe('10.96.0.0/16')
  })

  it("uses the pause image the provider builds as containerd's sandbox image", async () => {
    expect(await nodeFile('containerd.toml')).toContain(`sandbox_image = "${PAUSE_IMAGE}"`)
  })

  it('tells kube-proxy which addresses are pods, and hands out addresses from the node’s own CIDR', () => {
    expect((parse(kubeProxyConfig('gpu-0')) as { clusterCIDR: string; mode: string })).toMatchObject({ clusterCIDR: POD_CIDR, mode: 'iptables' })
    const cni = JSON.parse(cniConfig('10.244.1.0/24')) as { plugins: { type: string; ipam?: { ranges: { subnet: string }[][] } }[] }
    expect(cni.plugins.map((p) => p.type)).toEqual(['ptp', 'portmap'])
    expect(cni.plugins[0]!.ipam!.ranges[0]![0]!.subnet).toBe('10.244.1.0/24')
  })
})

describe('imagesOnEveryNode', () => {
  it('counts an image as loaded only when every node has it', () => {
    expect(imagesOnEveryNode([['a', 'b', 'c'], ['b', 'c'], ['c', 'b', 'd']])).toEqual(['b', 'c'])
    expect(imagesOnEveryNode([['a'], []])).toEqual([])
    expect(imagesOnEveryNode([])).toEqual([])
  })
})
