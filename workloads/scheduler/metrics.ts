import { Counter, Gauge, Histogram } from 'prom-client'
import type { Registry } from 'prom-client'
import { createMetricsRegistry } from '../shared/metrics.ts'

export interface SchedulerMetrics {
  registry: Registry
  isLeader: Gauge
  pendingGangs: Gauge
  reservedNodes: Gauge
  placementLatency: Histogram<'level'>
  freeGpus: Gauge<'node'>
  bindings: Counter<'result'>
}

export function createSchedulerMetrics(): SchedulerMetrics {
  const registry = createMetricsRegistry()
  const registers = [registry]
  return {
    registry,
    isLeader: new Gauge({
      name: 'serving_lab_scheduler_is_leader',
      help: '1 while this replica leads and binds, 0 while it stands by',
      registers,
    }),
    pendingGangs: new Gauge({
      name: 'serving_lab_scheduler_pending_gangs',
      help: 'Gangs (PodGroups, and lone pods) with members waiting to be placed, as of the last scheduling cycle',
      registers,
    }),
    reservedNodes: new Gauge({
      name: 'serving_lab_scheduler_reserved_nodes',
      help: 'Nodes held for the oldest waiting gang, which younger gangs may not use, as of the last scheduling cycle',
      registers,
    }),
    placementLatency: new Histogram({
      name: 'serving_lab_scheduler_placement_latency_seconds',
      help: "Seconds from a gang's first sighting by this replica to its last member bound, by the topology level it fit in",
      labelNames: ['level'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    freeGpus: new Gauge({
      name: 'serving_lab_scheduler_free_gpus',
      help: 'GPUs no bound pod requests, per node the scheduler places on',
      labelNames: ['node'],
      registers,
    }),
    bindings: new Counter({
      name: 'serving_lab_scheduler_bindings_total',
      help: 'Binding requests by result: bound, conflict (bound elsewhere or changed), gone (pod or node), error',
      labelNames: ['result'],
      registers,
    }),
  }
}
