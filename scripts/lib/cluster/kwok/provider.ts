import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { exec } from '../../exec.ts'
import { withLock } from '../../lock.ts'
import { apply, connect, serverVersion } from '../../kube.ts'
import type { EmitEvent } from '../../output.ts'
import { settings } from '../../settings.ts'
import { cachedBinaries, ensureBinaries, VERSIONS, type Binaries } from '../../build/binaries.ts'
import { controllerManagerFlags } from '../controller-manager.ts'
import { kwokNode, standardStorageClass } from './objects.ts'
import type { ClusterProvider, CreateOptions } from '../provider.ts'
import { fleetNodes } from '../topology.ts'

const flags = (values: Record<string, string>) => Object.entries(values).map(([key, value]) => ({ key, value }))

/** kwokctl's configuration: the binary runtime (processes on this machine) with the lab's own binaries. */
export function kwokctlConfig(binaries: Binaries): string {
  return stringify({
    apiVersion: 'config.kwok.x-k8s.io/v1alpha1',
    kind: 'KwokctlConfiguration',
    options: {
      runtime: 'binary',
      kubeVersion: VERSIONS.kubernetes,
      etcdVersion: VERSIONS.etcd.slice(1),
      kwokVersion: VERSIONS.kwok,
      kubeApiserverBinary: binaries['kube-apiserver'],
      kubeControllerManagerBinary: binaries['kube-controller-manager'],
      kubeSchedulerBinary: binaries['kube-scheduler'],
      kubectlBinary: binaries.kubectl,
      etcdBinary: binaries.etcd,
      kwokControllerBinary: binaries.kwok,
    },
    // kwokctl runs each component once and does not restart one that exits. With leader
    // election on, a controller manager or scheduler whose API server answers too slowly to renew
    // its lease (a busy laptop, CI's 2 cores) exits for good; alone, it has nobody to elect.
    componentsPatches: [
      {
        name: 'kube-controller-manager',
        extraArgs: flags({ 'enable-hostpath-provisioner': 'true', 'leader-elect': 'false', ...controllerManagerFlags }),
      },
      { name: 'kube-scheduler', extraArgs: flags({ 'leader-elect': 'false' }) },
    ],
  })
}

/** kwokctl logs JSON lines; people want the message and how long it took. */
function kwokctlMessage(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: string; elapsed?: { human?: string } }
    return `kwokctl: ${entry.msg ?? line}` + (entry.elapsed?.human ? ` (${entry.elapsed.human})` : '')
  } catch {
    return `kwokctl: ${line.trim()}`
  }
}

async function kwokctl(binaries: Binaries, args: string[], emit?: EmitEvent): Promise<string> {
  return exec(binaries.kwokctl, args, {
    env: { ...process.env, KWOK_KUBECTL_BINARY: binaries.kubectl },
    onLine: emit ? (line) => line.trim() && emit({ kind: 'progress', message: kwokctlMessage(line) }) : undefined,
  })
}

/** Whether kwokctl knows the cluster (running or stopped); without binaries there can be none. */
async function listed(cluster: string): Promise<boolean> {
  const binaries = await cachedBinaries()
  if (!binaries) return false
  return (await kwokctl(binaries, ['get', 'clusters']))
    .split('\n')
    .map((l) => l.trim())
    .includes(cluster)
}

/** The API server's version, or undefined while it does not answer. */
async function apiServerVersion(context: string): Promise<string | undefined> {
  try {
    return await serverVersion(connect(context))
  } catch {
    return undefined
  }
}

async function start(binaries: Binaries, cluster: string, emit: EmitEvent): Promise<void> {
  if (await listed(cluster)) {
    emit({ kind: 'progress', message: `starting the stopped kwok cluster '${cluster}'` })
    await kwokctl(binaries, ['start', 'cluster', '--name', cluster, '--wait', '2m'], emit)
    return
  }
  const dir = join(settings.cacheDir, 'kwok')
  await mkdir(dir, { recursive: true })
  const config = join(dir, `${cluster}.yaml`)
  await writeFile(config, kwokctlConfig(binaries))
  emit({
    kind: 'progress',
    message: `starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (${VERSIONS.kubernetes})`,
  })
  await kwokctl(binaries, ['create', 'cluster', '--name', cluster, '--config', config, '--wait', '2m'], emit)
}

export const kwok: ClusterProvider = {
  name: 'kwok',
  runsContainers: false,
  contextFor: (cluster) => `kwok-${cluster}`,

  // Binaries are built on demand by ensureBinaries, which says what is missing if Go is.
  async checkTools() {},

  async build(emit) {
    await ensureBinaries(emit)
  },

  async exists(cluster) {
    return (await listed(cluster)) && (await apiServerVersion(this.contextFor(cluster))) !== undefined
  },

  async create(cluster, { topology, emit }: CreateOptions) {
    const binaries = await ensureBinaries(emit)
    // One at a time on a machine: kwokctl picks its free ports and writes the kubeconfig, and two
    // at once can take the same port or lose one's context.
    const onWait = () => emit({ kind: 'progress', message: 'waiting for another kwok cluster to finish starting' })
    await withLock(join(settings.cacheDir, 'kwok', 'starting.lock'), () => start(binaries, cluster, emit), { onWait })
    const nodes = fleetNodes(topology)
    await apply(connect(this.contextFor(cluster)), [standardStorageClass, ...nodes.map(kwokNode)])
    return {
      nodes: nodes.length,
      whereToLook: "see 'npm run cluster:logs -- --provider kwok kwok-controller'",
      gpusAdvertised: false,
    }
  },

  async delete(cluster, emit) {
    if (await listed(cluster)) await kwokctl((await cachedBinaries())!, ['delete', 'cluster', '--name', cluster], emit)
  },

  async loadImages() {},

  async nodeImages() {
    return []
  },

  async status(cluster) {
    if (!(await listed(cluster))) return [`kwok cluster '${cluster}' does not exist`]
    const components = await kwokctl((await cachedBinaries())!, ['get', 'components', '--name', cluster])
    const version = (await apiServerVersion(this.contextFor(cluster))) ?? 'not answering'
    return [
      `kwok cluster '${cluster}' (context ${this.contextFor(cluster)}, API server ${version})`,
      ...components
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
    ]
  },

  async logs(cluster, component) {
    if (!component) return 'components: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller'
    return kwokctl((await cachedBinaries())!, ['logs', component, '--name', cluster])
  },
}
