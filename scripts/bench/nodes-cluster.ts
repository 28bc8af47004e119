import { readFile } from 'node:fs/promises'
import { nodes } from '../lib/cluster/nodes.ts'
import { loadTopology } from '../lib/cluster/topology.ts'
import { exec } from '../lib/exec.ts'
import { connect } from '../lib/kube.ts'
import { applyStep, ensureImage } from '../lib/runner.ts'
import { waitForRollout } from '../lib/rollout.ts'
import { findStep } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import type { Benchmark } from './benchmark.ts'

const cluster = 'serving-lab-bench'
const quiet = () => {}
const MiB = 2 ** 20

/** Resident memory (rss + mapped files, not page cache) of a cgroup v1 memory hierarchy. */
async function cgroupRss(path: string): Promise<number> {
  const stat = await readFile(`/sys/fs/cgroup/memory/${path}/memory.stat`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0)
  return field('total_rss') + field('total_mapped_file')
}

/**
 * The nodes provider with its binaries and images already built: how long `cluster:up` takes,
 * step 01 from apply to rolled out (real containers starting), and the memory of the machines
 * (the containers' own cgroups) and of the pods (the cgroups the kubelets made).
 */
export const nodesClusterBenchmark: Benchmark = {
  name: 'nodes-cluster',
  description: 'start a nodes cluster (binaries and images built), step 01 rolled out on real containers, memory',
  async run() {
    await nodes.delete(cluster, quiet)
    const started = performance.now()
    await nodes.create(cluster, { topology: await loadTopology('lab'), emit: quiet })
    const startSeconds = (performance.now() - started) / 1000
    try {
      const target = resolveTarget({ provider: 'nodes', cluster })
      await ensureImage(target, true, quiet)
      const kube = connect(target.context)
      const applied = performance.now()
      const namespace = await applyStep(kube, await findStep('01'), { apply: true, reset: false, emit: quiet })
      const pending = await waitForRollout(kube, namespace, quiet, { timeoutMs: 180_000 })
      if (pending.length > 0) throw new Error(`step 01 did not roll out: ${pending.join(', ')}`)
      const rolloutSeconds = (performance.now() - applied) / 1000
      const ids = (await exec('docker', ['ps', '--quiet', '--no-trunc', '--filter', `label=serving-lab.dev/cluster=${cluster}`])).split('\n').filter(Boolean)
      const machines = (await Promise.all(ids.map((id) => cgroupRss(`docker/${id}`)))).reduce((a, b) => a + b, 0)
      const pods = await cgroupRss(`serving-lab-${cluster}`)
      return [
        { metric: 'cluster start (binaries and images built)', value: startSeconds, unit: 's' },
        { metric: 'step 01 apply to rolled out (5 pods)', value: rolloutSeconds, unit: 's' },
        { metric: 'machines: control plane, containerd, kubelets, kube-proxies', value: machines / MiB, unit: 'MiB' },
        { metric: 'pods: CoreDNS and step 01', value: pods / MiB, unit: 'MiB' },
      ]
    } finally {
      await nodes.delete(cluster, quiet)
    }
  },
}
