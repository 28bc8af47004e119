import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireDockerEngine } from '../../docker.ts'
import { EnvironmentError } from '../../errors.ts'
import { exec, hasProgram } from '../../exec.ts'
import { connect } from '../../kube.ts'
import type { EmitEvent } from '../../output.ts'
import { imagesOnEveryNode, type ClusterProvider, type CreateOptions } from '../provider.ts'
import { fleetNodes } from '../topology.ts'
import { kindCli, runKind } from './cli.ts'
import { kindConfig } from './config.ts'
import { hostReadyForPassthrough, setUpGpuWorkers } from './gpu-setup.ts'
import { chooseNodeImage, workloadBaseImage } from './node-image.ts'
import { keepServiceAddressesInside } from './service-network.ts'

/** The label kind puts on every container of a cluster. */
const CLUSTER_LABEL = 'io.x-k8s.kind.cluster'

async function hostHasNvidiaGpus(): Promise<boolean> {
  if (!(await hasProgram('nvidia-smi'))) return false
  try {
    return (await exec('nvidia-smi', ['-L'])).includes('GPU ')
  } catch {
    return false
  }
}

async function nodesOf(cluster: string, emit: EmitEvent): Promise<string[]> {
  return (await runKind(['get', 'nodes', '--name', cluster], emit)).split('\n').filter(Boolean)
}

/** The image a cluster's nodes run, for the `--privileged` probe of commands that enter them. */
async function imageOf(node: string): Promise<string> {
  return (await exec('docker', ['inspect', '--format', '{{.Config.Image}}', node])).trim()
}

export const kind: ClusterProvider = {
  name: 'kind',
  runsContainers: true,
  contextFor: (cluster) => `kind-${cluster}`,

  async checkTools(emit) {
    await requireDockerEngine()
    await kindCli(emit)
  },

  async build(emit) {
    await kindCli(emit)
    await chooseNodeImage(emit)
  },

  async exists(cluster) {
    return (await runKind(['get', 'clusters'], () => {})).split('\n').includes(cluster)
  },

  async create(cluster, { topology, emit }: CreateOptions) {
    const image = await chooseNodeImage(emit)
    const passthrough = (await hostHasNvidiaGpus()) && (await hostReadyForPassthrough(emit))
    const dir = await mkdtemp(join(tmpdir(), 'serving-lab-kind-'))
    try {
      const config = join(dir, 'kind.yaml')
      await writeFile(config, kindConfig(cluster, fleetNodes(topology), { image, gpuPassthrough: passthrough }))
      emit({ kind: 'progress', message: `node image ${image}` })
      await runKind(['create', 'cluster', '--name', cluster, '--config', config, '--wait', '180s'], emit, {
        image,
        onLine: (line) => line.trim() && emit({ kind: 'progress', message: line.trim() }),
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    await keepServiceAddressesInside(await nodesOf(cluster, emit), emit)
    const nodes = fleetNodes(topology).length + 1
    const context = this.contextFor(cluster)
    const whereToLook = `the pod network makes a node Ready: kubectl --context ${context} -n kube-system get pods -o wide`
    if (!passthrough) return { nodes, whereToLook, gpusAdvertised: false }
    const gpus = await setUpGpuWorkers(connect(context), emit)
    emit({ kind: 'progress', message: `the NVIDIA device plugin advertises ${gpus} nvidia.com/gpu on the workers` })
    return { nodes, whereToLook, gpusAdvertised: true }
  },

  async delete(cluster, emit: EmitEvent) {
    await runKind(['delete', 'cluster', '--name', cluster], emit, {
      onLine: (line) => line.trim() && emit({ kind: 'progress', message: line.trim() }),
    })
    const left = (
      await exec('docker', ['ps', '--all', '--quiet', '--filter', `label=${CLUSTER_LABEL}=${cluster}`])
    ).trim()
    if (left)
      throw new EnvironmentError(
        `kind delete left containers of the cluster '${cluster}': ${left.split('\n').join(', ')} (docker rm -f them)`,
      )
  },

  workloadBaseImage,

  async loadImages(cluster, images, emit) {
    emit({ kind: 'progress', message: `loading ${images.join(', ')} into the nodes` })
    const [node] = await nodesOf(cluster, emit)
    await runKind(['load', 'docker-image', '--name', cluster, ...images], emit, {
      image: node && (await imageOf(node)),
    })
  },

  async nodeImages(cluster) {
    const nodes = await nodesOf(cluster, () => {})
    // ctr, not crictl: containerd's own client is in every node image, kind's and the lab's.
    const perNode = await Promise.all(
      nodes.map((node) => exec('docker', ['exec', node, 'ctr', '--namespace', 'k8s.io', 'images', 'list', '--quiet'])),
    )
    return imagesOnEveryNode(
      perNode.map((list) => list.split('\n').filter((line) => line && !line.startsWith('sha256:'))),
    )
  },

  async status(cluster) {
    if (!(await this.exists(cluster))) return [`kind cluster '${cluster}' does not exist`]
    const nodes = await nodesOf(cluster, () => {})
    return [`kind cluster '${cluster}' (context ${this.contextFor(cluster)})`, ...nodes.map((node) => `  node ${node}`)]
  },

  // A node's own log (its boot) by its name; the systemd units inside it as NODE/kubelet, NODE/containerd.
  async logs(cluster, component) {
    const nodes = await nodesOf(cluster, () => {})
    if (!component) return nodes.flatMap((node) => [node, `${node}/kubelet`, `${node}/containerd`]).join('\n')
    const [node, unit] = component.split('/')
    if (!nodes.includes(node!))
      throw new EnvironmentError(`no node '${node}' in the kind cluster '${cluster}': it has ${nodes.join(', ')}`)
    return unit
      ? exec('docker', ['exec', node!, 'journalctl', '--no-pager', '--unit', unit])
      : exec('docker', ['logs', node!])
  },
}
