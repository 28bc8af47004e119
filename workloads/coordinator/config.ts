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
import { defaultTimings, validateTimings } from '../shared/leader-election.ts'

export interface CoordinatorConfig extends ConnectionLimitsConfig {
  port: number
  host: string
  /** Where the Lease, the ConfigMaps, the Events and the model-server pods live. */
  namespace: string
  /** Unique per replica: the pod's name. */
  identity: string
  leaseName: string
  leaseDurationMs: number
  renewDeadlineMs: number
  retryPeriodMs: number
  /** The ConfigMap the learner edits. */
  desiredConfigMap: string
  /** The ConfigMap the coordinator writes once a desired version passed validation. */
  acceptedConfigMap: string
  /** Selects the model-server pods whose readiness gate the coordinator sets. */
  podSelector: string
  /** The model server's HTTP port, where rank 0 answers `GET /group`. */
  groupPort: number
  probeIntervalMs: number
  probeTimeoutMs: number
  /** Each watch ends after this long and the objects are listed again, which repairs a missed event. */
  relistIntervalMs: number
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
}

/** Every default in one place; environment variables override them, flags override both. */
export const defaults: CoordinatorConfig = {
  port: 8080,
  host: '0.0.0.0',
  namespace: '',
  identity: '',
  leaseName: 'coordinator',
  ...defaultTimings,
  desiredConfigMap: 'serving-config',
  acceptedConfigMap: 'serving-config-accepted',
  podSelector: 'app.kubernetes.io/component=model-server',
  groupPort: 8000,
  probeIntervalMs: 2000,
  probeTimeoutMs: 1000,
  relistIntervalMs: 30_000,
  maxRequestBodyBytes: 64 * 1024,
  drainTimeoutMs: 5000,
  ...connectionLimitDefaults,
  logLevel: 'info',
}

// None ends in `_PORT` (see Setting.env): the model server's port is GROUP_HTTP_PORT_NUMBER.
export const settings: readonly Setting<CoordinatorConfig>[] = [
  ...listenSettings<CoordinatorConfig>(),
  {
    field: 'namespace',
    flag: 'namespace',
    env: 'POD_NAMESPACE',
    kind: 'string',
    description: 'Namespace of the Lease, the ConfigMaps and the model-server pods; in a pod, from the downward API',
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
    description: 'Milliseconds the leader keeps acting after its last successful renew; less than the lease duration',
  },
  {
    field: 'retryPeriodMs',
    flag: 'retry-period-ms',
    env: 'RETRY_PERIOD_MS',
    kind: 'integer',
    description: 'Milliseconds between attempts to take or renew the Lease',
  },
  {
    field: 'desiredConfigMap',
    flag: 'desired-configmap',
    env: 'DESIRED_CONFIGMAP',
    kind: 'string',
    description: 'The ConfigMap holding the desired serving configuration, which the learner edits',
  },
  {
    field: 'acceptedConfigMap',
    flag: 'accepted-configmap',
    env: 'ACCEPTED_CONFIGMAP',
    kind: 'string',
    description: 'The ConfigMap the leader publishes the last valid configuration to, with its generation and token',
  },
  {
    field: 'podSelector',
    flag: 'pod-selector',
    env: 'POD_SELECTOR',
    kind: 'string',
    description: 'Label selector of the model-server pods whose group-ready condition the leader sets',
  },
  {
    field: 'groupPort',
    flag: 'group-port',
    env: 'GROUP_HTTP_PORT_NUMBER',
    kind: 'integer',
    description: "The model server's HTTP port, where rank 0 answers GET /group",
  },
  {
    field: 'probeIntervalMs',
    flag: 'probe-interval-ms',
    env: 'PROBE_INTERVAL_MS',
    kind: 'integer',
    description: "Milliseconds between two GET /group probes of each group's rank 0",
  },
  {
    field: 'probeTimeoutMs',
    flag: 'probe-timeout-ms',
    env: 'PROBE_TIMEOUT_MS',
    kind: 'integer',
    description: 'Milliseconds a GET /group probe may take; a slower rank 0 counts as unreachable',
  },
  {
    field: 'relistIntervalMs',
    flag: 'relist-interval-ms',
    env: 'RELIST_INTERVAL_MS',
    kind: 'integer',
    description: 'Milliseconds after which each watch ends and its objects are listed again',
  },
  ...serverSettings<CoordinatorConfig>(),
]

export { ConfigError }

/** Defaults, then environment variables, then flags; then validated. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): CoordinatorConfig {
  return loadSettings(defaults, settings, argv, env, usage, validateConfig)
}

/** Every rule the configuration breaks, one message each, naming the field; empty when valid. */
export function validateConfig(config: CoordinatorConfig): string[] {
  const errors: string[] = []
  const { integerIn } = rangeRules(config, errors)
  const nonEmpty = (field: keyof CoordinatorConfig, how: string) => {
    if (config[field] === '') errors.push(`${field} must not be empty: ${how}`)
  }
  integerIn('port', 0, 65535)
  nonEmpty('host', '--host ADDRESS')
  nonEmpty('namespace', '--namespace NS, or POD_NAMESPACE from the downward API')
  nonEmpty('identity', '--identity NAME, or POD_NAME from the downward API (unique per replica)')
  nonEmpty('leaseName', '--lease-name NAME')
  nonEmpty('desiredConfigMap', '--desired-configmap NAME')
  nonEmpty('acceptedConfigMap', '--accepted-configmap NAME')
  if (config.desiredConfigMap !== '' && config.desiredConfigMap === config.acceptedConfigMap)
    errors.push(
      'acceptedConfigMap must differ from desiredConfigMap: the learner edits one, the leader writes the other',
    )
  nonEmpty('podSelector', '--pod-selector KEY=VALUE')
  integerIn('groupPort', 1, 65535)
  integerIn('probeIntervalMs', 1)
  integerIn('probeTimeoutMs', 1)
  if (config.probeTimeoutMs > config.probeIntervalMs)
    errors.push(`probeTimeoutMs must not exceed probeIntervalMs (${config.probeTimeoutMs} > ${config.probeIntervalMs})`)
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
  return usageOf('usage: coordinator [flags]   (3 replicas; one leads, on the Lease --lease-name)', defaults, settings)
}
