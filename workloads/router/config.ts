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
import { addressOf } from './discovery/static.ts'
import { policyNames } from './policies/policy.ts'
import type { PolicyName } from './policies/policy.ts'

export interface RouterConfig extends ConnectionLimitsConfig {
  port: number
  host: string
  /** Static backends (`http://host:port`), for a laptop; or else `service`. */
  backends: string[]
  /** The Service whose EndpointSlices list the backends; empty when `backends` is used. */
  service: string
  namespace: string
  /** The backends' port: the Service port's name, or a number. */
  targetPort: string
  policy: PolicyName
  /** The header that names a session for session affinity; the body's `user` when absent. */
  affinityHeader: string
  healthPath: string
  healthIntervalMs: number
  healthTimeoutMs: number
  healthyThreshold: number
  unhealthyThreshold: number
  /** Failures in a row that open a backend's breaker (eject it). */
  consecutiveErrors: number
  baseEjectionMs: number
  maxEjectionMs: number
  /** Probe requests a half-open breaker lets through; all must succeed to close it. */
  halfOpenRequests: number
  requestTimeoutMs: number
  maxRetries: number
  retryBudgetPercent: number
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
  /** The accepted serving configuration's ConfigMap to follow live; empty: none. */
  acceptedConfig: string
}

/** The settings the accepted serving configuration may change live, by flag. */
export const liveKeys: readonly string[] = ['policy', 'max-retries', 'retry-budget-percent', 'request-timeout-ms']

/** Every default in one place; environment variables override them, flags override both. */
export const defaults: RouterConfig = {
  port: 8080,
  host: '0.0.0.0',
  backends: [],
  service: '',
  namespace: '',
  targetPort: 'http',
  policy: 'least-outstanding',
  affinityHeader: 'x-session-id',
  healthPath: '/ready',
  healthIntervalMs: 2000,
  healthTimeoutMs: 1000,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  consecutiveErrors: 3,
  baseEjectionMs: 5000,
  maxEjectionMs: 300_000,
  halfOpenRequests: 3,
  requestTimeoutMs: 60_000,
  maxRetries: 1,
  retryBudgetPercent: 20,
  maxRequestBodyBytes: 1024 * 1024,
  drainTimeoutMs: 25_000,
  ...connectionLimitDefaults,
  logLevel: 'info',
  acceptedConfig: '',
}

// None ends in `_PORT` (see Setting.env): the target port is TARGET_PORT_NAME.
export const settings: readonly Setting<RouterConfig>[] = [
  ...listenSettings<RouterConfig>(),
  {
    field: 'backends',
    flag: 'backends',
    env: 'BACKENDS',
    kind: 'list',
    description: 'Comma-separated static backends, each http://host:port; give this or --service',
  },
  {
    field: 'service',
    flag: 'service',
    env: 'SERVICE',
    kind: 'string',
    description:
      'The Service whose EndpointSlices list the backends, watched through the Kubernetes API; or --backends',
  },
  {
    field: 'namespace',
    flag: 'namespace',
    env: 'POD_NAMESPACE',
    kind: 'string',
    description: "The Service's namespace, and --accepted-config's; in a pod, from the downward API",
  },
  {
    field: 'targetPort',
    flag: 'target-port',
    env: 'TARGET_PORT_NAME',
    kind: 'string',
    description: "The backends' port in the EndpointSlices: the Service port's name, or a number",
  },
  {
    field: 'policy',
    flag: 'policy',
    env: 'POLICY',
    kind: 'string',
    description: `How a backend is picked for each request, one of ${policyNames.join(', ')}`,
  },
  {
    field: 'affinityHeader',
    flag: 'affinity-header',
    env: 'AFFINITY_HEADER',
    kind: 'string',
    description: "Request header naming the session for session-affinity (the body's user when absent); passed on",
  },
  {
    field: 'healthPath',
    flag: 'health-path',
    env: 'HEALTH_PATH',
    kind: 'string',
    description: 'Path the active health check GETs on every backend; a 2xx answer passes',
  },
  {
    field: 'healthIntervalMs',
    flag: 'health-interval-ms',
    env: 'HEALTH_INTERVAL_MS',
    kind: 'integer',
    description: "Milliseconds between one backend's health checks",
  },
  {
    field: 'healthTimeoutMs',
    flag: 'health-timeout-ms',
    env: 'HEALTH_TIMEOUT_MS',
    kind: 'integer',
    description: 'Milliseconds a health check may take before it fails',
  },
  {
    field: 'healthyThreshold',
    flag: 'healthy-threshold',
    env: 'HEALTHY_THRESHOLD',
    kind: 'integer',
    description: 'Passed health checks in a row that make an unhealthy backend healthy again (a new one needs one)',
  },
  {
    field: 'unhealthyThreshold',
    flag: 'unhealthy-threshold',
    env: 'UNHEALTHY_THRESHOLD',
    kind: 'integer',
    description: 'Failed health checks in a row that make a healthy backend unhealthy',
  },
  {
    field: 'consecutiveErrors',
    flag: 'consecutive-errors',
    env: 'CONSECUTIVE_ERRORS',
    kind: 'integer',
    description: 'Failed requests in a row (5xx, no connection, timeout) that eject a backend: its breaker opens',
  },
  {
    field: 'baseEjectionMs',
    flag: 'base-ejection-ms',
    env: 'BASE_EJECTION_MS',
    kind: 'integer',
    description: 'Milliseconds a first ejection lasts; a backend ejected n times recently stays out n times as long',
  },
  {
    field: 'maxEjectionMs',
    flag: 'max-ejection-ms',
    env: 'MAX_EJECTION_MS',
    kind: 'integer',
    description: 'Milliseconds no ejection lasts longer than',
  },
  {
    field: 'halfOpenRequests',
    flag: 'half-open-requests',
    env: 'HALF_OPEN_REQUESTS',
    kind: 'integer',
    description: 'Probe requests let through after an ejection; all must succeed to close the breaker',
  },
  {
    field: 'requestTimeoutMs',
    flag: 'request-timeout-ms',
    env: 'REQUEST_TIMEOUT_MS',
    kind: 'integer',
    description: 'Milliseconds a request may take, every attempt and the whole stream included, before a 504',
  },
  {
    field: 'maxRetries',
    flag: 'max-retries',
    env: 'MAX_RETRIES',
    kind: 'integer',
    description:
      'Retries of a failed attempt (no connection, or a 500, 502, 503 or 504), each on a backend not tried yet',
  },
  {
    field: 'retryBudgetPercent',
    flag: 'retry-budget-percent',
    env: 'RETRY_BUDGET_PERCENT',
    kind: 'number',
    description: 'Retries in the last 10 s may be at most this percentage of the requests, or 10 if that is more',
  },
  ...serverSettings<RouterConfig>(),
  {
    field: 'acceptedConfig',
    flag: 'accepted-config',
    env: 'ACCEPTED_CONFIG',
    kind: 'string',
    description: `ConfigMap in --namespace whose serving configuration (${liveKeys.join(', ')}) is applied live, watched through the API; empty for none`,
  },
]

export { ConfigError }

/** Defaults, then environment variables, then flags; then validated. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): RouterConfig {
  return loadSettings(defaults, settings, argv, env, usage, validateConfig, (config) => {
    config.affinityHeader = config.affinityHeader.toLowerCase()
  })
}

/** Every rule the configuration breaks, one message each, naming the field; empty when valid. */
export function validateConfig(config: RouterConfig): string[] {
  const errors: string[] = []
  const { integerIn, numberIn } = rangeRules(config, errors)
  integerIn('port', 0, 65535)
  if (config.host === '') errors.push('host must not be empty')

  validateBackendSettings(config, errors)
  if (!policyNames.includes(config.policy))
    errors.push(`policy must be one of ${policyNames.join(', ')} (got ${config.policy})`)
  if (config.acceptedConfig !== '' && config.namespace === '')
    errors.push('namespace is required with acceptedConfig: --namespace NS, or POD_NAMESPACE from the downward API')
  integerIn('requestTimeoutMs', 1)
  integerIn('maxRetries', 0, 10)
  numberIn('retryBudgetPercent', 0, 100)
  validateServerSettings(config, errors)
  return errors
}

/** The settings the router and the frontend share: where the backends are, and how their health and failures are judged. */
export const backendFields = [
  'backends',
  'service',
  'namespace',
  'targetPort',
  'affinityHeader',
  'healthPath',
  'healthIntervalMs',
  'healthTimeoutMs',
  'healthyThreshold',
  'unhealthyThreshold',
  'consecutiveErrors',
  'baseEjectionMs',
  'maxEjectionMs',
  'halfOpenRequests',
] as const satisfies readonly (keyof RouterConfig)[]

export type BackendSettingsConfig = Pick<RouterConfig, (typeof backendFields)[number]>

/** The rules of the shared backend settings, reported into `errors`. */
export function validateBackendSettings(config: BackendSettingsConfig, errors: string[]): void {
  const { integerIn } = rangeRules(config, errors)
  if (config.backends.length > 0 && config.service !== '')
    errors.push('backends and service are exclusive: give a static list or a Service, not both')
  if (config.backends.length === 0 && config.service === '')
    errors.push('backends or service is required: --backends http://127.0.0.1:8001,... or --service NAME')
  for (const url of config.backends) {
    try {
      addressOf(url)
    } catch (error) {
      errors.push(`backends: ${(error as Error).message}`)
    }
  }
  if (config.service !== '') {
    if (config.namespace === '')
      errors.push('namespace is required with service: --namespace NS, or POD_NAMESPACE from the downward API')
    if (config.targetPort === '') errors.push('targetPort must not be empty: a port name or number')
    if (/^\d+$/.test(config.targetPort) && !(Number(config.targetPort) >= 1 && Number(config.targetPort) <= 65535)) {
      errors.push(`targetPort must be from 1 to 65535 when a number (got ${config.targetPort})`)
    }
  }

  if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(config.affinityHeader))
    errors.push(`affinityHeader must be a header name (got "${config.affinityHeader}")`)
  if (!config.healthPath.startsWith('/')) errors.push(`healthPath must start with / (got "${config.healthPath}")`)
  integerIn('healthIntervalMs', 1)
  integerIn('healthTimeoutMs', 1)
  if (config.healthTimeoutMs > config.healthIntervalMs) {
    errors.push(
      `healthTimeoutMs must not exceed healthIntervalMs (${config.healthTimeoutMs} > ${config.healthIntervalMs})`,
    )
  }
  integerIn('healthyThreshold', 1)
  integerIn('unhealthyThreshold', 1)
  integerIn('consecutiveErrors', 1)
  integerIn('baseEjectionMs', 1)
  integerIn('maxEjectionMs', 1)
  if (config.maxEjectionMs < config.baseEjectionMs) {
    errors.push(`maxEjectionMs must be at least baseEjectionMs (${config.maxEjectionMs} < ${config.baseEjectionMs})`)
  }
  integerIn('halfOpenRequests', 1)
}

/** Every setting with its variables, default and description, for `--help` and flag errors. */
export function usage(): string {
  return usageOf('usage: router [flags]   (--backends URL,... or --service NAME)', defaults, settings)
}
