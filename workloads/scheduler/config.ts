import {
  ConfigError,
  connectionLimitDefaults,
  listenSettings,
  serverSettings,
  rangeRules,
  loadSettings,
  usageOf,
  validateServerSettings,
  type ConnectionLimitsConfig,
  type Setting,
} from '../shared/config.ts'
import { INVENTORY_DRIVER } from '../gpu-inventory/resource-slice.ts'
import { defaultTimings, validateTimings } from '../shared/leader-election.ts'

export interface SchedulerConfig extends ConnectionLimitsConfig {
  port: number
  host: string
  /** Pods whose spec.schedulerName is this are the scheduler's to place. */
  schedulerName: string
  /** Where the Lease lives; the pods may be in any namespace. */
  namespace: string
  /** Unique per replica: the pod's name. */
  identity: string
  leaseName: string
  leaseDurationMs: number
  renewDeadlineMs: number
  retryPeriodMs: number
  /** Label selector of the nodes the scheduler places on; empty: every node with GPUs. */
  nodeSelector: string
  /** The driver name of the GPU inventory's ResourceSlices to read; empty: no live inventory, labels only. */
  inventoryDriver: string
  /** After a change, wait this long for more before a scheduling cycle, so pods created together are seen together. */
  batchDelayMs: number
  /** Each watch ends after this long and the objects are listed again, which repairs a missed event. */
  relistIntervalMs: number
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
}

/** Every default in one place; environment variables override them, flags override both. */
export const defaults: SchedulerConfig = {
  port: 8080,
  host: '0.0.0.0',
  schedulerName: 'serving-lab-scheduler',
  namespace: '',
  identity: '',
  leaseName: 'serving-lab-scheduler',
  ...defaultTimings,
  nodeSelector: '',
  inventoryDriver: INVENTORY_DRIVER,
  batchDelayMs: 100,
  relistIntervalMs: 30_000,
  maxRequestBodyBytes: 64 * 1024,
  drainTimeoutMs: 5000,
  ...connectionLimitDefaults,
  logLevel: 'info',
}

export const settings: readonly Setting<SchedulerConfig>[] = [
  ...listenSettings<SchedulerConfig>(),
  {
    field: 'schedulerName',
    flag: 'scheduler-name',
    env: 'SCHEDULER_NAME',
    kind: 'string',
    description:
      'The spec.schedulerName of the pods this scheduler places; other pods only count for the GPUs they hold',
  },
  {
    field: 'namespace',
    flag: 'namespace',
    env: 'POD_NAMESPACE',
    kind: 'string',
    description: 'Namespace of the Lease the replicas elect their leader on; in a pod, from the downward API',
  },
  {
    field: 'identity',
    flag: 'identity',
    env: 'POD_NAME',
    kind: 'string',
    description: "This replica's name in the Lease, unique per replica: the pod's name (downward API metadata.name)",
  },
  {
    field: 'leaseName',
    flag: 'lease-name',
    env: 'LEASE_NAME',
    kind: 'string',
    description: 'The coordination.k8s.io Lease the replicas elect their leader on',
  },
  {
    field: 'leaseDurationMs',
    flag: 'lease-duration-ms',
    env: 'LEASE_DURATION_MS',
    kind: 'integer',
    description: "Milliseconds, whole seconds, a standby waits after the Lease's last change before it takes over",
  },
  {
    field: 'renewDeadlineMs',
    flag: 'renew-deadline-ms',
    env: 'RENEW_DEADLINE_MS',
    kind: 'integer',
    description: 'Milliseconds the leader keeps binding after its last successful renew; less than the lease duration',
  },
  {
    field: 'retryPeriodMs',
    flag: 'retry-period-ms',
    env: 'RETRY_PERIOD_MS',
    kind: 'integer',
    description: 'Milliseconds between attempts to take or renew the Lease',
  },
  {
    field: 'nodeSelector',
    flag: 'node-selector',
    env: 'NODE_SELECTOR',
    kind: 'string',
    description:
      'Label selector of the nodes pods may be placed on (e.g. serving-lab.dev/pool=h100); empty: every GPU node',
  },
  {
    field: 'inventoryDriver',
    flag: 'inventory-driver',
    env: 'INVENTORY_DRIVER',
    kind: 'string',
    description:
      "Driver name of the GPU inventory agent's ResourceSlices, whose free memory per GPU the scheduler honours; empty: node labels only",
  },
  {
    field: 'batchDelayMs',
    flag: 'batch-delay-ms',
    env: 'BATCH_DELAY_MS',
    kind: 'integer',
    description:
      "Milliseconds to wait after a change before a scheduling cycle, so a gang's pods created together are placed together",
  },
  {
    field: 'relistIntervalMs',
    flag: 'relist-interval-ms',
    env: 'RELIST_INTERVAL_MS',
    kind: 'integer',
    description: 'Milliseconds after which each watch ends and its objects are listed again',
  },
  ...serverSettings<SchedulerConfig>(),
]

export { ConfigError }

/** Defaults, then environment variables, then flags; then validated. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): SchedulerConfig {
  return loadSettings(defaults, settings, argv, env, usage, validateConfig)
}

/** Every rule the configuration breaks, one message each, naming the field; empty when valid. */
export function validateConfig(config: SchedulerConfig): string[] {
  const errors: string[] = []
  const { integerIn } = rangeRules(config, errors)
  const nonEmpty = (field: keyof SchedulerConfig, how: string) => {
    if (config[field] === '') errors.push(`${field} must not be empty: ${how}`)
  }
  integerIn('port', 0, 65535)
  nonEmpty('host', '--host ADDRESS')
  nonEmpty('schedulerName', "--scheduler-name NAME, the pods' spec.schedulerName")
  if (config.schedulerName === 'default-scheduler')
    errors.push("schedulerName must not be default-scheduler: that name is kube-scheduler's")
  nonEmpty('namespace', '--namespace NS, or POD_NAMESPACE from the downward API')
  nonEmpty('identity', '--identity NAME, or POD_NAME from the downward API (unique per replica)')
  nonEmpty('leaseName', '--lease-name NAME')
  integerIn('batchDelayMs', 0, 10_000)
  integerIn('relistIntervalMs', 1000)
  try {
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = config
    validateTimings({ leaseDurationMs, renewDeadlineMs, retryPeriodMs })
  } catch (error) {
    errors.push((error as Error).message)
  }
  validateServerSettings(config, errors)
  return errors
}

/** Every setting with its variables, default and description, for `--help` and flag errors. */
export function usage(): string {
  return usageOf(
    'usage: scheduler [flags]   (2 replicas; one leads and binds, on the Lease --lease-name)',
    defaults,
    settings,
  )
}
