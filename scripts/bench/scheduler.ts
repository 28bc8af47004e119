import { createCluster } from '../lib/cluster/create.ts'
import { kwok } from '../lib/cluster/kwok/provider.ts'
import { LABELS, loadTopology } from '../lib/cluster/topology.ts'
import { installPodGroupCrd } from '../lib/build/pod-group-crd.ts'
import { connect } from '../lib/kube.ts'
import { formatFigures, pressureTrace, runTrace, type TraceFigures } from '../lib/scheduler-trace.ts'
import { defaults } from '../../workloads/scheduler/config.ts'
import { createSchedulerMetrics } from '../../workloads/scheduler/metrics.ts'
import { Scheduler, type SchedulerLog } from '../../workloads/scheduler/scheduler.ts'
import type { Benchmark, Measurement } from './benchmark.ts'

const cluster = 'serving-lab-bench-scheduler'
const namespace = 'trace'
const quiet = () => {}
const silent: SchedulerLog = { info: quiet, warn: quiet, debug: quiet, child: () => silent }
const racks = ['zone-a-h100-rack-1', 'zone-a-h100-rack-2', 'zone-a-h100-rack-3', 'zone-a-h100-rack-4']

/**
 * The lab's scheduler against kube-scheduler on the pressure trace of the scheduler's
 * integration test, larger: one zone of the `large` topology (4 racks, 32 nodes, 256 GPUs)
 * filled past full, a 32-GPU group behind, small groups arriving and a third of the bound ones
 * leaving each round, then everything bound leaving until nothing more binds. kube-scheduler
 * gets the best plain manifests: a required pod affinity keeping each group in one rack, a node
 * affinity for GPU memory. The lab scheduler runs in this process, on a new kwok cluster that
 * is deleted after.
 */
export const schedulerBenchmark: Benchmark = {
  name: 'scheduler',
  description: 'gang placement under pressure on 32 kwok nodes: the lab scheduler against kube-scheduler, same trace',
  async run() {
    await kwok.delete(cluster, quiet)
    await createCluster(kwok, cluster, await loadTopology('large'), quiet)
    const kube = connect(kwok.contextFor(cluster))
    const scheduler = new Scheduler({
      settings: {
        ...defaults,
        namespace: 'default',
        identity: 'bench',
        nodeSelector: `${LABELS.rack} in (${racks.join(',')})`,
      },
      kubeConfig: kube.config,
      metrics: createSchedulerMetrics(),
      log: silent,
    })
    try {
      await installPodGroupCrd(kube, quiet)
      await kube.core.createNamespace({ body: { metadata: { name: namespace } } })
      scheduler.start()
      const trace = pressureTrace({ seed: 16, gpus: 256, rounds: 5, perRound: 12, largeGpus: 32 })
      const run = { kube, namespace, nodes: { label: LABELS.rack, values: racks }, departures: 0.3, seed: 3 }
      const lab = await runTrace({ ...run, schedulerName: defaults.schedulerName }, trace)
      const plain = await runTrace({ ...run, schedulerName: 'default-scheduler' }, trace)
      console.log(`${trace.length} groups on 32 nodes (256 GPUs):\n${formatFigures([lab, plain])}`)
      return [...measurements(lab, 'lab'), ...measurements(plain, 'kube-scheduler')]
    } finally {
      await scheduler.stop()
      await kwok.delete(cluster, quiet)
    }
  },
}

function measurements(f: TraceFigures, who: string): Measurement[] {
  const multi = f.multiPod.nvlink + f.multiPod.rack + f.multiPod.wider
  return [
    {
      metric: `${who}: multi-pod groups inside one NVLink domain or rack`,
      value: (100 * (f.multiPod.nvlink + f.multiPod.rack)) / Math.max(multi, 1),
      unit: '%',
    },
    { metric: `${who}: groups seen partly bound`, value: f.partlyBound, unit: 'groups' },
    { metric: `${who}: groups never bound (not refused)`, value: f.waiting, unit: 'groups' },
    { metric: `${who}: GPUs stranded on partly used nodes`, value: f.strandedGpus, unit: 'GPUs' },
    { metric: `${who}: GPUs held by partly bound groups`, value: f.heldByPartialGroups, unit: 'GPUs' },
    { metric: `${who}: pods bound per second`, value: f.podsPerSecond, unit: 'pods/s' },
    { metric: `${who}: longest wait`, value: f.waits.max, unit: 's' },
  ]
}
