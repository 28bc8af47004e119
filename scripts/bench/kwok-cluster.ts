import { kwok } from '../lib/cluster/kwok.ts'
import { loadTopology } from '../lib/cluster/topology.ts'
import { exec } from '../lib/exec.ts'
import { connect } from '../lib/kube.ts'
import { applyStep } from '../lib/runner.ts'
import { waitForRollout } from '../lib/rollout.ts'
import { findStep } from '../lib/steps.ts'
import type { Benchmark } from './benchmark.ts'

const cluster = 'serving-lab-bench'
const quiet = () => {}

/** Resident memory of every process of the cluster (kwokctl runs them with paths under its cluster folder). */
async function clusterRssBytes(): Promise<number> {
  const table = await exec('ps', ['-eo', 'rss=,args='])
  return table
    .split('\n')
    .filter((line) => line.includes(`/clusters/${cluster}/`))
    .reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[0]) * 1024, 0)
}

/**
 * The kwok provider with binaries already built: how long `cluster:up` takes, what the control
 * plane holds in memory, and how long step 01 takes to roll out on it.
 */
export const kwokClusterBenchmark: Benchmark = {
  name: 'kwok-cluster',
  description: 'start a kwok cluster (binaries cached), its memory, step 01 applied and rolled out',
  async run() {
    await kwok.delete(cluster, quiet)
    const started = performance.now()
    await kwok.create(cluster, { topology: await loadTopology('lab'), emit: quiet })
    const startSeconds = (performance.now() - started) / 1000
    try {
      const kube = connect(kwok.contextFor(cluster))
      const applied = performance.now()
      const namespace = await applyStep(kube, await findStep('01'), { apply: true, reset: false, emit: quiet })
      const pending = await waitForRollout(kube, namespace, quiet, { timeoutMs: 120_000 })
      if (pending.length > 0) throw new Error(`step 01 did not roll out: ${pending.join(', ')}`)
      const rolloutSeconds = (performance.now() - applied) / 1000
      const rss = await clusterRssBytes()
      return [
        { metric: 'cluster start (cached binaries)', value: startSeconds, unit: 's' },
        { metric: 'step 01 apply to rolled out', value: rolloutSeconds, unit: 's' },
        { metric: 'control plane + kwok resident memory', value: rss / 2 ** 20, unit: 'MiB' },
      ]
    } finally {
      await kwok.delete(cluster, quiet)
    }
  },
}
