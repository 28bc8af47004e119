import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireDockerEngine } from '../../docker.ts'
import { EnvironmentError } from '../../errors.ts'
import { exec, hasProgram } from '../../exec.ts'
import { connect } from '../../kube.ts'
import type { EmitEvent } from '../../output.ts'
import { advertiseGpus } from '../gpu-capacity.ts'
import { imagesOnEveryNode, type ClusterProvider, type CreateOptions } from '../provider.ts'
import { fleetNodes } from '../topology.ts'
import { KIND_NODE_IMAGE, KIND_VERSION, kindConfig } from './config.ts'
import { hostReadyForPassthrough, setUpGpuWorkers } from './gpu-setup.ts'

async function hostHasNvidiaGpus(): Promise<boolean> {
  if (!(await hasProgram('nvidia-smi'))) return false
  try {
    return (await exec('nvidia-smi', ['-L'])).includes('GPU ')
  } catch {
    return false
  }
}

export const kind: ClusterProvider = {
  name: 'kind',
  runsContainers: true,
  contextFor: (cluster) => `kind-${cluster}`,

  async checkTools() {
    await requireDockerEngine()
    if (!(await hasProgram('kind'))) {
      throw new EnvironmentError(`kind is not installed: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation, or \`go install sigs.k8s.io/kind@${KIND_VERSION}\`), or create the cluster with \`--provider kwok\`, which simulates the nodes and needs no Docker.`)
    }
  },

  async exists(cluster) {
    return (await exec('kind', ['get', 'clusters'])).split('\n').includes(cluster)
  },

  async create(cluster, { topology, emit }: CreateOptions) {
    const passthrough = (await hostHasNvidiaGpus()) && (await hostReadyForPassthrough(emit))
    const dir = await mkdtemp(join(tmpdir(), 'serving-lab-kind-'))
    try {
      const config = join(dir, 'kind.yaml')
      await writeFile(config, kindConfig(cluster, fleetNodes(topology), { image: KIND_NODE_IMAGE, gpuPassthrough: passthrough }))
      await exec('kind', ['create', 'cluster', '--name', cluster, '--config', config, '--wait', '180s'], {
        onLine: (line) => line.trim() && emit({ kind: 'progress', message: line.trim() }),
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    if (passthrough) {
      const gpus = await setUpGpuWorkers(connect(this.contextFor(cluster)), emit)
      emit({ kind: 'progress', message: `the NVIDIA device plugin advertises ${gpus} nvidia.com/gpu on the workers` })
      return
    }
    const gpus = await advertiseGpus(connect(this.contextFor(cluster)))
    emit({ kind: 'progress', message: `advertised ${gpus} simulated nvidia.com/gpu through the workers' node status` })
  },

  async delete(cluster, emit: EmitEvent) {
    await exec('kind', ['delete', 'cluster', '--name', cluster], { onLine: (line) => emit({ kind: 'progress', message: line.trim() }) })
  },

  async loadImages(cluster, images, emit) {
    emit({ kind: 'progress', message: `loading ${images.join(', ')} into the nodes` })
    await exec('kind', ['load', 'docker-image', '--name', cluster, ...images])
  },

  async nodeImages(cluster) {
    const nodes = (await exec('kind', ['get', 'nodes', '--name', cluster])).split('\n').filter(Boolean)
    const perNode = await Promise.all(nodes.map((node) => exec('docker', ['exec', node, 'crictl', 'images', '-o', 'json'])))
    const tagsOf = (json: string) => (JSON.parse(json) as { images: { repoTags?: string[] }[] }).images.flatMap((image) => image.repoTags ?? [])
    return imagesOnEveryNode(perNode.map(tagsOf))
  },

  async status(cluster) {
    if (!(await this.exists(cluster))) return [`kind cluster '${cluster}' does not exist`]
    const nodes = await exec('kind', ['get', 'nodes', '--name', cluster])
    return [`kind cluster '${cluster}' (context ${this.contextFor(cluster)})`, ...nodes.split('\n').filter(Boolean).map((node) => `  node ${node}`)]
  },

  async logs(cluster, component) {
    if (!component) return (await exec('kind', ['get', 'nodes', '--name', cluster])).trim()
    return exec('docker', ['logs', component])
  },
}
