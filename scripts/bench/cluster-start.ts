import { createCluster } from '../lib/cluster/create.ts'
import type { ClusterProvider } from '../lib/cluster/provider.ts'
import { loadTopology } from '../lib/cluster/topology.ts'
import { connect } from '../lib/kube.ts'
import { readManifests } from '../lib/manifests.ts'
import { applyStep, ensureImages } from '../lib/runner.ts'
import { waitForRollout } from '../lib/rollout.ts'
import { findStep } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'

const quiet = () => {}

export interface ClusterTimes {
  /** From create to every node Ready, in seconds. */
  startSeconds: number
  /** Step 01 from apply to rolled out, in seconds. */
  rolloutSeconds: number
}

/**
 * What the cluster benchmarks share: a new cluster of the lab topology, step 01 applied and
 * rolled out on it, `measure` called while it runs, and the cluster deleted whatever happens.
 */
export async function withStep01<T>(
  provider: ClusterProvider,
  cluster: string,
  measure: (times: ClusterTimes) => Promise<T>,
): Promise<T> {
  await provider.delete(cluster, quiet)
  const started = performance.now()
  await createCluster(provider, cluster, await loadTopology('lab'), quiet)
  const startSeconds = (performance.now() - started) / 1000
  try {
    const target = resolveTarget({ provider: provider.name, cluster })
    const step = await findStep('01')
    await ensureImages(target, provider.runsContainers, await readManifests(step.dir), quiet)
    const kube = connect(target.context)
    const applied = performance.now()
    const namespace = await applyStep(kube, step, { apply: true, reset: false, emit: quiet })
    const pending = await waitForRollout(kube, namespace, quiet, { timeoutMs: 180_000 })
    if (pending.length > 0) throw new Error(`step 01 did not roll out: ${pending.join(', ')}`)
    return await measure({ startSeconds, rolloutSeconds: (performance.now() - applied) / 1000 })
  } finally {
    await provider.delete(cluster, quiet)
  }
}
