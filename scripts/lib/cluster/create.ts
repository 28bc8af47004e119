import { connect } from '../kube.ts'
import type { EmitEvent } from '../output.ts'
import { advertiseGpus } from './gpu-capacity.ts'
import { waitForNodesReady } from './nodes-ready.ts'
import type { ClusterProvider } from './provider.ts'
import type { Topology } from './topology.ts'

/**
 * Creates a cluster the same way on every provider: the provider starts its machines, then the
 * shared steps run once for all of them: every node Ready, and GPU capacity advertised where no
 * device plugin does it (kubeadm's kind nodes and KWOK's simulated ones alike). Says how long it took.
 */
export async function createCluster(
  provider: ClusterProvider,
  cluster: string,
  topology: Topology,
  emit: EmitEvent,
): Promise<void> {
  const started = Date.now()
  emit({ kind: 'phase', phase: `creating the ${provider.name} cluster '${cluster}'` })
  const created = await provider.create(cluster, { topology, emit })
  const context = provider.contextFor(cluster)
  // kind only warns when its own wait runs out; a cluster whose nodes are not Ready runs no step.
  await waitForNodesReady(context, created.nodes, emit, created.whereToLook)
  if (!created.gpusAdvertised) {
    const gpus = await advertiseGpus(connect(context))
    emit({ kind: 'progress', message: `${gpus} simulated nvidia.com/gpu advertised through the GPU nodes' status` })
  }
  emit({
    kind: 'progress',
    message: `cluster ready in ${Math.round((Date.now() - started) / 1000)} s: kube context ${context}`,
  })
}
