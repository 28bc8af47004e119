import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import { createMetricsRegistry } from '../shared/metrics.ts'

export interface CoordinatorMetrics {
  registry: Registry
  isLeader: Gauge
  fencingToken: Gauge
  configGeneration: Gauge
  configRejections: Counter
  groups: Gauge<'ready'>
  conditionUpdates: Counter<'status'>
}

export function createCoordinatorMetrics(): CoordinatorMetrics {
  const registry = createMetricsRegistry()
  const registers = [registry]
  return {
    registry,
    isLeader: new Gauge({
      name: 'serving_lab_coordinator_is_leader',
      help: '1 while this replica leads, 0 while it stands by',
      registers,
    }),
    fencingToken: new Gauge({
      name: 'serving_lab_coordinator_fencing_token',
      help: "The fencing token of this replica's current or last leadership (the Lease's leaseTransitions)",
      registers,
    }),
    configGeneration: new Gauge({
      name: 'serving_lab_coordinator_config_generation',
      help: 'Generation of the accepted serving configuration, as this replica last published or read it',
      registers,
    }),
    configRejections: new Counter({
      name: 'serving_lab_coordinator_config_rejections_total',
      help: 'Desired serving configurations refused because a key broke a rule',
      registers,
    }),
    groups: new Gauge({
      name: 'serving_lab_coordinator_groups',
      help: 'Model-server groups the leader watches, by whether every rank joined (ready="true")',
      labelNames: ['ready'],
      registers,
    }),
    conditionUpdates: new Counter({
      name: 'serving_lab_coordinator_condition_updates_total',
      help: "Writes of the group-ready condition to model-server pods' status, by the status written",
      labelNames: ['status'],
      registers,
    }),
  }
}
