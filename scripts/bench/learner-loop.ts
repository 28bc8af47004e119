// What a learner waits for, on a warm cluster of each provider (binaries, node image and workload
// image already built, the cluster up): `npm run step NN` for every step, then `npm run
// verify:all` and `npm run mutations`, each timed as a learner runs it, from the command line.
import { spawn } from 'node:child_process'
import { createCluster } from '../lib/cluster/create.ts'
import { kind } from '../lib/cluster/kind/provider.ts'
import { kwok } from '../lib/cluster/kwok/provider.ts'
import type { ClusterProvider } from '../lib/cluster/provider.ts'
import { loadTopology } from '../lib/cluster/topology.ts'
import { repoRoot } from '../lib/project.ts'
import { listSteps } from '../lib/steps.ts'
import type { Benchmark, Measurement } from './benchmark.ts'

const CLUSTER = 'serving-lab-bench-loop'

/** Seconds one `npm run` takes; a command that fails fails the benchmark, with its last lines. */
function timed(script: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn('npm', ['run', '--silent', script, '--', ...args], { cwd: repoRoot, stdio: 'pipe' })
    let tail = ''
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-2000))
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0
        ? resolve((performance.now() - started) / 1000)
        : reject(new Error(`npm run ${script} ${args.join(' ')} exited ${code}:\n${tail}`)),
    )
  })
}

async function loop(provider: ClusterProvider, log: (line: string) => void): Promise<Measurement[]> {
  const where = ['--provider', provider.name, '--cluster', CLUSTER]
  if (!(await provider.exists(CLUSTER))) await createCluster(provider, CLUSTER, await loadTopology('lab'), () => {})
  const measure = async (metric: string, script: string, args: string[]): Promise<Measurement> => {
    const value = await timed(script, [...args, ...where])
    log(`  ${metric} (${provider.name}): ${value.toFixed(1)} s`)
    return { metric: `${metric} (${provider.name}, warm)`, value, unit: 's' }
  }
  const results: Measurement[] = []
  // A first run builds and loads the workload image; the learner's loop is every run after it.
  await timed('step', ['01', ...where])
  for (const step of await listSteps()) results.push(await measure(`npm run step ${step.id}`, 'step', [step.id]))
  results.push(await measure('npm run verify:all', 'verify:all', []))
  results.push(await measure('npm run mutations', 'mutations', []))
  return results
}

export const learnerLoopBenchmark: Benchmark = {
  name: 'learner-loop',
  description: 'npm run step NN for every step, verify:all and the mutation suite, on warm kwok and kind clusters',
  async run() {
    const log = (line: string) => console.log(line)
    const results: Measurement[] = []
    for (const provider of [kwok, kind]) {
      try {
        results.push(...(await loop(provider, log)))
      } finally {
        await provider.delete(CLUSTER, () => {})
      }
    }
    return results
  },
}
