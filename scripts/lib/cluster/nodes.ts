import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { KubeConfig, type V1Node } from '@kubernetes/client-node'
import { stringify } from 'yaml'
import { requireDockerEngine } from '../docker.ts'
import { CommandError } from '../errors.ts'
import { exec } from '../exec.ts'
import { apply, connect, type KubeContext } from '../kube.ts'
import { parseManifests } from '../manifests.ts'
import type { EmitEvent } from '../output.ts'
import { pollUntil } from '../poll.ts'
import { cacheDir } from '../project.ts'
import { waitForRollout } from '../rollout.ts'
import { cachedBinaries, ensureBinaries, type Binaries } from './binaries.ts'
import { advertiseGpus } from './gpu-capacity.ts'
import { standardStorageClass } from './kwok-nodes.ts'
import { ensureNodeImages, ensureNodejsImage, nodesDir, COREDNS_IMAGE, PAUSE_IMAGE } from './node-images.ts'
import { kubeconfig, makePki, type CertificateRequest } from './pki.ts'
import { imagesOnEveryNode, type ClusterProvider, type CreateOptions } from './provider.ts'
import { fleetNodes, MAX_LAPTOP_NODES, type FleetNode } from './topology.ts'

/** The addresses kubeadm uses by default: Services, pods (one /24 per node), the DNS Service. */
export const SERVICE_CIDR = '10.96.0.0/16'
export const POD_CIDR = '10.244.0.0/16'
const API_SERVICE_IP = '10.96.0.1'
const DNS_SERVICE_IP = '10.96.0.10'
const CLUSTER_LABEL = 'serving-lab.dev/cluster'
const CONTROL_PLANE = 'control-plane'
const BIN_MOUNT = '/opt/serving-lab/bin'

const clusterDir = (cluster: string) => join(cacheDir, 'clusters', cluster)
const containerName = (cluster: string, machine: string) => `${cluster}-${machine}`
const cgroupRoot = (cluster: string, node: string) => `/serving-lab-${cluster}/${node}`

/** The certificates of a cluster: its components, its admin, and one kubelet per node. */
export function certificateRequests(controlPlaneHost: string, nodes: readonly string[]): CertificateRequest[] {
  return [
    {
      file: 'apiserver',
      commonName: 'kube-apiserver',
      usage: 'server',
      // Nodes dial the control plane by its container name (Docker's DNS), pods by the Service.
      dnsNames: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', controlPlaneHost, 'localhost'],
      ips: [API_SERVICE_IP, '127.0.0.1'],
    },
    { file: 'apiserver-kubelet-client', commonName: 'kube-apiserver-kubelet-client', organization: 'system:masters', usage: 'client' },
    { file: 'admin', commonName: 'kubernetes-admin', organization: 'system:masters', usage: 'client' },
    { file: 'controller-manager', commonName: 'system:kube-controller-manager', usage: 'client' },
    { file: 'scheduler', commonName: 'system:kube-scheduler', usage: 'client' },
    { file: 'kube-proxy', commonName: 'system:kube-proxy', usage: 'client' },
    ...nodes.map((node): CertificateRequest => ({ file: `kubelet-${node}`, commonName: `system:node:${node}`, organization: 'system:nodes', usage: 'client' })),
  ]
}

export function kubeletConfig(cluster: string, node: string): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // Only the API server (by its client certificate) and authorized users reach the kubelet's API.
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: '/etc/kubernetes/pki/ca.crt' } },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'cgroupfs',
    cgroupRoot: cgroupRoot(cluster, node),
    clusterDNS: [DNS_SERVICE_IP],
    clusterDomain: 'cluster.local',
    containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
    // As kind: every node shares one disk, so disk-pressure eviction and image GC stay off,
    // and the locally built images (no registry to pull them again) are never removed.
    evictionHard: { 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%' },
    imageGCHighThresholdPercent: 100,
    failSwapOn: false,
    // Docker's resolver (127.0.0.11) cannot be reached from a pod; there is no upstream DNS.
    resolvConf: '',
  })
}

export function kubeProxyConfig(node: string): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig: '/etc/kubernetes/kube-proxy.kubeconfig' },
    clusterCIDR: POD_CIDR,
    hostnameOverride: node,
    // The host's conntrack settings are not the node's to change.
    conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  })
}

/** The CNI configuration of one node: a veth per pod, addresses from the node's pod CIDR, routes between nodes set apart. */
export function cniConfig(podCidr: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'serving-lab',
      plugins: [
        { type: 'ptp', ipMasq: false, mtu: 1500, ipam: { type: 'host-local', ranges: [[{ subnet: podCidr }]], routes: [{ dst: '0.0.0.0/0' }] } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )
}

const docker = (args: string[], input?: string) => exec('docker', args, { input })
const dockerExec = (container: string, command: string[], input?: string) => docker(['exec', ...(input === undefined ? [] : ['-i']), container, ...command], input)

async function containersOf(cluster: string, all = true): Promise<string[]> {
  const out = await docker(['ps', ...(all ? ['-a'] : []), '--filter', `label=${CLUSTER_LABEL}=${cluster}`, '--format', '{{.Names}}'])
  return out.split('\n').filter(Boolean).sort()
}

async function workersOf(cluster: string): Promise<string[]> {
  return (await containersOf(cluster)).filter((name) => name !== containerName(cluster, CONTROL_PLANE))
}

/** The flags that let containerd and kubelet run nested inside a container on a host without CAP_SYS_RESOURCE. */
const NODE_PRIVILEGES = [
  '--cap-add=ALL',
  '--cap-drop=SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined',
  '--security-opt', 'apparmor=unconfined',
  '--security-opt', 'systempaths=unconfined',
  '--device-cgroup-rule=a *:* rwm',
  '--device', '/dev/kmsg',
  '--volume', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
  '--volume', '/lib/modules:/lib/modules:ro',
  // containerd's overlay snapshots cannot sit on the container's own overlay root.
  '--volume', '/var',
  '--tmpfs', '/run',
  '--tmpfs', '/tmp',
  '--sysctl', 'net.ipv4.ip_forward=1',
]

interface Machine {
  name: string
  container: string
}

async function writeMachineFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), content)
  }
}

async function startControlPlane(cluster: string, machine: Machine, network: string, image: string, binaries: Binaries): Promise<void> {
  await docker([
    'run', '--detach', '--name', machine.container, '--hostname', machine.container,
    '--label', `${CLUSTER_LABEL}=${cluster}`,
    '--network', network,
    // Only this machine reaches the API server through the published port.
    '--publish', '127.0.0.1::6443',
    '--cap-add=NET_ADMIN',
    '--volume', `${join(clusterDir(cluster), CONTROL_PLANE)}:/etc/kubernetes:ro`,
    '--volume', `${dirname(binaries['kube-apiserver'])}:${BIN_MOUNT}:ro`,
    '--volume', '/var/lib/etcd',
    '--env', `SERVICE_CIDR=${SERVICE_CIDR}`, '--env', `POD_CIDR=${POD_CIDR}`,
    image, 'control-plane.sh',
  ])
}

async function startNode(cluster: string, machine: Machine, node: FleetNode, network: string, image: string, binaries: Binaries): Promise<void> {
  const labels = Object.entries(node.labels).map(([key, value]) => `${key}=${value}`).join(',')
  await docker([
    'run', '--detach', '--name', machine.container, '--hostname', node.name,
    '--label', `${CLUSTER_LABEL}=${cluster}`,
    '--network', network,
    ...NODE_PRIVILEGES,
    '--volume', `${join(clusterDir(cluster), node.name)}:/etc/kubernetes:ro`,
    '--volume', `${dirname(binaries.kubelet)}:${BIN_MOUNT}:ro`,
    '--env', `NODE_NAME=${node.name}`, '--env', `CGROUP_ROOT=${cgroupRoot(cluster, node.name)}`, '--env', `NODE_LABELS=${labels}`,
    image, 'node.sh',
  ])
}

/** Adds the cluster to the user's kubeconfig as context `nodes-CLUSTER`, without making it current. */
async function addContext(binaries: Binaries, cluster: string, server: string): Promise<void> {
  const pki = join(clusterDir(cluster), CONTROL_PLANE, 'pki')
  const context = nodes.contextFor(cluster)
  const kubectl = (args: string[]) => exec(binaries.kubectl, ['config', ...args])
  await kubectl(['set-cluster', context, `--server=${server}`, `--certificate-authority=${join(pki, 'ca.crt')}`, '--embed-certs'])
  await kubectl(['set-credentials', context, `--client-certificate=${join(pki, 'admin.crt')}`, `--client-key=${join(pki, 'admin.key')}`, '--embed-certs'])
  await kubectl(['set-context', context, `--cluster=${context}`, `--user=${context}`])
}

async function removeContext(cluster: string): Promise<void> {
  const binaries = await cachedBinaries()
  if (!binaries) return
  const context = nodes.contextFor(cluster)
  for (const args of [['delete-context', context], ['delete-cluster', context], ['delete-user', context]]) {
    // Absent entries are fine: `down` also cleans up after a half-made cluster.
    await exec(binaries.kubectl, ['config', ...args]).catch(() => undefined)
  }
}

async function waitForApiServer(kube: KubeContext, emit: EmitEvent): Promise<void> {
  emit({ kind: 'progress', message: 'waiting for the API server' })
  const { held } = await pollUntil(
    async () => {
      try {
        return (await kube.core.listNamespace()).items.some((ns) => ns.metadata?.name === 'kube-system')
      } catch {
        return false
      }
    },
    Boolean,
    { timeoutMs: 120_000 },
  )
  if (!held) throw new Error('the API server did not answer within 2 minutes: npm run cluster:logs -- --provider nodes control-plane/kube-apiserver')
}

async function waitForPodCidrs(kube: KubeContext, expected: number, emit: EmitEvent): Promise<V1Node[]> {
  emit({ kind: 'progress', message: `waiting for ${expected} kubelets to register` })
  const { value, held } = await pollUntil(
    async () => (await kube.core.listNode()).items.filter((node) => node.spec?.podCIDR),
    (registered) => registered.length >= expected,
    { timeoutMs: 180_000 },
  )
  if (!held) throw new Error(`only ${value.length}/${expected} nodes registered within 3 minutes: npm run cluster:logs -- --provider nodes <node>/kubelet`)
  return value
}

/**
 * The pod network, kindnet's way: each node's CNI config hands out its own pod CIDR, and every
 * machine routes each other node's pod CIDR to that node's address on the Docker network.
 */
async function connectPodNetwork(registered: V1Node[], machines: Map<string, Machine>): Promise<void> {
  const internalIp = (node: V1Node) => node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address
  const routes = registered.map((node) => ({ cidr: node.spec!.podCIDR!, via: internalIp(node)!, node: node.metadata!.name! }))
  for (const machine of machines.values()) {
    for (const route of routes.filter((r) => r.node !== machine.name)) {
      await dockerExec(machine.container, ['ip', 'route', 'replace', route.cidr, 'via', route.via])
    }
  }
  for (const route of routes) {
    const container = machines.get(route.node)!.container
    await dockerExec(container, ['sh', '-c', 'mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-serving-lab.conflist'], cniConfig(route.cidr))
  }
}

async function importImages(containers: string[], images: string[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'serving-lab-images-'))
  try {
    const archive = join(dir, 'images.tar')
    await docker(['save', '--output', archive, ...images])
    await Promise.all(containers.map((container) => exec('sh', ['-c', `docker exec -i "${container}" ctr --namespace k8s.io images import - < "${archive}"`])))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function waitForContainerd(container: string): Promise<void> {
  const { held } = await pollUntil(
    () => dockerExec(container, ['ctr', 'version']).then(() => true, () => false),
    Boolean,
    { timeoutMs: 30_000 },
  )
  if (!held) throw new Error(`containerd did not start in ${container}: npm run cluster:logs -- --provider nodes ${container}/containerd`)
}

/** The cgroups the nodes and their kubelets made in the host's hierarchies. */
const cgroupsOf = async (cluster: string) => (await exec('sh', ['-c', `ls -d /sys/fs/cgroup/*/serving-lab-${cluster} 2>/dev/null; true`])).split('\n').filter(Boolean)

/** What a removed cluster must not leave behind, by kind of thing: empty when it left nothing. */
async function leftovers(cluster: string, volumes: readonly string[]): Promise<string[]> {
  const remainingVolumes = new Set((await docker(['volume', 'ls', '--quiet'])).split('\n'))
  const found = {
    containers: await containersOf(cluster),
    networks: (await docker(['network', 'ls', '--filter', `label=${CLUSTER_LABEL}=${cluster}`, '--format', '{{.Name}}'])).split('\n').filter(Boolean),
    volumes: volumes.filter((volume) => remainingVolumes.has(volume)),
    cgroups: await cgroupsOf(cluster),
    files: await stat(clusterDir(cluster)).then(() => [clusterDir(cluster)], () => []),
    'kube contexts': hasContext(nodes.contextFor(cluster)) ? [nodes.contextFor(cluster)] : [],
  }
  return Object.entries(found).filter(([, items]) => items.length > 0).map(([kind, items]) => `${kind}: ${items.join(', ')}`)
}

function hasContext(context: string): boolean {
  const config = new KubeConfig()
  config.loadFromDefault()
  return config.getContextObject(context) !== null
}

export const nodes: ClusterProvider = {
  name: 'nodes',
  runsContainers: true,
  contextFor: (cluster) => `nodes-${cluster}`,

  async checkTools() {
    await requireDockerEngine()
  },

  async exists(cluster) {
    return (await containersOf(cluster)).includes(containerName(cluster, CONTROL_PLANE))
  },

  async create(cluster, { topology, emit }: CreateOptions) {
    const fleet = fleetNodes(topology)
    if (fleet.length > MAX_LAPTOP_NODES) {
      throw new Error(`this topology has ${fleet.length} nodes; the nodes provider runs at most ${MAX_LAPTOP_NODES} node containers. Use --provider kwok for large fleets.`)
    }
    const binaries = await ensureBinaries(emit)
    emit({ kind: 'phase', phase: 'node images', detail: 'built locally: no registry is reachable' })
    const image = await ensureNodeImages(emit)

    emit({ kind: 'phase', phase: 'machines', detail: `a control plane and ${fleet.length} nodes as containers on the Docker network '${cluster}'` })
    await docker(['network', 'create', '--label', `${CLUSTER_LABEL}=${cluster}`, cluster])
    const machines = new Map<string, Machine>()
    for (const name of [CONTROL_PLANE, ...fleet.map((node) => node.name)]) machines.set(name, { name, container: containerName(cluster, name) })
    const controlPlane = machines.get(CONTROL_PLANE)!

    const dir = clusterDir(cluster)
    await rm(dir, { recursive: true, force: true })
    const pki = join(dir, CONTROL_PLANE, 'pki')
    await makePki(pki, certificateRequests(controlPlane.container, fleet.map((n) => n.name)))
    const inside = `https://${controlPlane.container}:6443`
    await writeMachineFiles(join(dir, CONTROL_PLANE), {
      'controller-manager.kubeconfig': await kubeconfig(pki, { server: 'https://127.0.0.1:6443', user: 'system:kube-controller-manager', file: 'controller-manager' }),
      'scheduler.kubeconfig': await kubeconfig(pki, { server: 'https://127.0.0.1:6443', user: 'system:kube-scheduler', file: 'scheduler' }),
    })
    for (const node of fleet) {
      await writeMachineFiles(join(dir, node.name), {
        'pki/ca.crt': await readFile(join(pki, 'ca.crt'), 'utf8'),
        'kubelet.yaml': kubeletConfig(cluster, node.name),
        'kubelet.kubeconfig': await kubeconfig(pki, { server: inside, user: `system:node:${node.name}`, file: `kubelet-${node.name}` }),
        'kube-proxy.yaml': kubeProxyConfig(node.name),
        'kube-proxy.kubeconfig': await kubeconfig(pki, { server: inside, user: 'system:kube-proxy', file: 'kube-proxy' }),
      })
    }

    await startControlPlane(cluster, controlPlane, cluster, image, binaries)
    const port = (await docker(['port', controlPlane.container, '6443/tcp'])).trim().split('\n')[0]!.split(':').at(-1)
    await addContext(binaries, cluster, `https://127.0.0.1:${port}`)
    const kube = connect(this.contextFor(cluster))
    await waitForApiServer(kube, emit)

    for (const node of fleet) await startNode(cluster, machines.get(node.name)!, node, cluster, image, binaries)
    const workers = fleet.map((node) => machines.get(node.name)!.container)
    await Promise.all(workers.map(waitForContainerd))
    emit({ kind: 'progress', message: `importing ${PAUSE_IMAGE} and ${COREDNS_IMAGE} into the nodes` })
    await importImages(workers, [PAUSE_IMAGE, COREDNS_IMAGE])

    const registered = await waitForPodCidrs(kube, fleet.length, emit)
    emit({ kind: 'progress', message: `pod network: ${registered.map((n) => `${n.metadata!.name} ${n.spec!.podCIDR}`).join(', ')}` })
    await connectPodNetwork(registered, machines)
    const gpus = await advertiseGpus(kube)
    emit({ kind: 'progress', message: `advertised ${gpus} simulated nvidia.com/gpu through the nodes' status` })

    emit({ kind: 'phase', phase: 'cluster add-ons', detail: 'CoreDNS and the default StorageClass' })
    await apply(kube, [standardStorageClass, ...parseManifests(await readFile(join(nodesDir, 'coredns.yaml'), 'utf8'), 'coredns.yaml')])
    const pending = await waitForRollout(kube, 'kube-system', emit)
    if (pending.length > 0) throw new Error(`CoreDNS did not become ready: ${pending.join(', ')}`)
  },

  /** Removes every container, volume, network, cgroup, file and kube context of the cluster, then checks that none is left. */
  async delete(cluster, emit) {
    const containers = await containersOf(cluster)
    let volumes: string[] = []
    if (containers.length > 0) {
      volumes = (await docker(['inspect', ...containers, '--format', '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}'])).split(/\s+/).filter(Boolean)
      emit({ kind: 'progress', message: `removing ${containers.join(', ')} and their ${volumes.length} volumes` })
      await docker(['rm', '--force', '--volumes', ...containers])
    }
    const networks = (await docker(['network', 'ls', '--filter', `label=${CLUSTER_LABEL}=${cluster}`, '--format', '{{.Name}}'])).split('\n').filter(Boolean)
    if (networks.length > 0) await docker(['network', 'rm', ...networks])
    // Deepest first: a cgroup can only be removed once it has no children (and no processes).
    for (const root of await cgroupsOf(cluster)) await exec('find', [root, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', '+'])
    await removeContext(cluster)
    await rm(clusterDir(cluster), { recursive: true, force: true })
    const left = await leftovers(cluster, volumes)
    if (left.length > 0) throw new Error(`the nodes cluster '${cluster}' was not removed completely; still there: ${left.join('; ')}`)
  },

  async workloadNodeImage(emit) {
    return ensureNodejsImage(emit)
  },

  async loadImages(cluster, images, emit) {
    const workers = await workersOf(cluster)
    emit({ kind: 'progress', message: `importing ${images.join(', ')} into ${workers.join(', ')}` })
    await importImages(workers, images)
  },

  async nodeImages(cluster) {
    const perNode = await Promise.all((await workersOf(cluster)).map((node) => dockerExec(node, ['ctr', '--namespace', 'k8s.io', 'images', 'list', '--quiet'])))
    return imagesOnEveryNode(perNode.map((out) => out.split('\n').filter(Boolean)))
  },

  async status(cluster) {
    const out = await docker(['ps', '-a', '--filter', `label=${CLUSTER_LABEL}=${cluster}`, '--format', '{{.Names}}\t{{.Status}}'])
    if (!out.trim()) return [`nodes cluster '${cluster}' does not exist`]
    return [`nodes cluster '${cluster}' (context ${this.contextFor(cluster)})`, ...out.trim().split('\n').sort().map((line) => `  ${line.replace('\t', ': ')}`)]
  },

  async logs(cluster, component) {
    const containers = await containersOf(cluster)
    if (!component) {
      const names = await Promise.all(
        containers.map(async (container) => {
          const files = (await exec('sh', ['-c', `docker cp "${container}:/var/log/serving-lab" - | tar -t`])).split('\n')
          const machine = container.slice(cluster.length + 1)
          return files.filter((file) => file.endsWith('.log')).map((file) => `${machine}/${file.slice('serving-lab/'.length, -'.log'.length)}`)
        }),
      )
      return names.flat().join('\n')
    }
    const [machine, name] = component.split('/')
    try {
      // `docker cp` reads a stopped container too: the logs of a component that failed.
      return await exec('sh', ['-c', `docker cp "${containerName(cluster, machine!)}:/var/log/serving-lab/${name}.log" - | tar -xO`])
    } catch (error) {
      if (error instanceof CommandError) return `no log '${component}': npm run cluster:logs -- --provider nodes (without a name) lists them`
      throw error
    }
  },
}
