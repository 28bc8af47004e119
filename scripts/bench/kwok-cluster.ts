import { kwok } from '../lib/cluster/kwok/provider.ts'
import { exec } from '../lib/exec.ts'
import type { Benchmark } from './benchmark.ts'
import { withStep01 } from './cluster-start.ts'

const cluster = 'serving-lab-bench'

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
  run: () =>
    withStep01(kwok, cluster, async ({ startSeconds, rolloutSeconds }) => [
      { metric: 'cluster start (cached binaries)', value: startSeconds, unit: 's' },
      { metric: 'step 01 apply to rolled out', value: rolloutSeconds, unit: 's' },
      { metric: 'control plane + kwok resident memory', value: (await clusterRssBytes()) / 2 ** 20, unit: 'MiB' },
    ]),
}
