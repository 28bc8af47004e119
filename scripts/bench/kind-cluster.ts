import { kind } from '../lib/cluster/kind/provider.ts'
import { exec } from '../lib/exec.ts'
import type { Benchmark } from './benchmark.ts'
import { withStep01 } from './cluster-start.ts'

const cluster = 'serving-lab-bench'

/** Memory in use by a container, as `docker stats` reports it (MiB, GiB or kB). */
function mebibytes(usage: string): number {
  const match = /^([\d.]+)\s*(KiB|kB|MiB|MB|GiB|GB)/.exec(usage)
  if (!match) throw new Error(`unreadable memory usage from docker stats: ${usage}`)
  const scale: Record<string, number> = { KiB: 1 / 1024, kB: 1 / 1024, MiB: 1, MB: 1, GiB: 1024, GB: 1024 }
  return Number(match[1]) * scale[match[2]!]!
}

/**
 * The kind provider with its node image already built (or pulled): how long `cluster:up` takes
 * until every node is Ready, step 01 from apply to rolled out (real containers starting), and
 * the memory of the node containers with step 01 running.
 */
export const kindClusterBenchmark: Benchmark = {
  name: 'kind-cluster',
  description: 'start a kind cluster (node image built), step 01 rolled out on real containers, memory of the nodes',
  run: () =>
    withStep01(kind, cluster, async ({ startSeconds, rolloutSeconds }) => {
      const ids = (await exec('docker', ['ps', '--quiet', '--filter', `label=io.x-k8s.kind.cluster=${cluster}`]))
        .split('\n')
        .filter(Boolean)
      const stats = await exec('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', ...ids])
      const nodes = stats
        .split('\n')
        .filter(Boolean)
        .map((line) => mebibytes(line.split('/')[0]!.trim()))
      return [
        { metric: 'cluster start, every node Ready (node image built)', value: startSeconds, unit: 's' },
        { metric: 'step 01 apply to rolled out (5 pods)', value: rolloutSeconds, unit: 's' },
        {
          metric: `node containers with step 01 running (${nodes.length})`,
          value: nodes.reduce((a, b) => a + b, 0),
          unit: 'MiB',
        },
      ]
    }),
}
