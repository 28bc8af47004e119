import {
  ConfigError,
  connectionLimitDefaults,
  listenSettings,
  rangeRules,
  loadSettings,
  serverSettings,
  usageOf,
  validateServerSettings,
  type ConnectionLimitsConfig,
  type Setting,
} from '../shared/config.ts'
import {
  backendFields,
  defaults as routerDefaults,
  settings as routerSettings,
  validateBackendSettings,
  type BackendSettingsConfig,
} from '../router/config.ts'
import { policyNames as routerPolicyNames } from '../router/policies/policy.ts'

/** `kv`, the KV-aware cost, or one of the router's policies, kept for comparison. */
export const frontendPolicyNames = ['kv', ...routerPolicyNames] as const
export type FrontendPolicyName = (typeof frontendPolicyNames)[number]

export interface FrontendConfig extends BackendSettingsConfig, ConnectionLimitsConfig {
  port: number
  host: string
  policy: FrontendPolicyName
  /** Priorities 0 .. priorityClasses − 1; lower is served first, as vLLM's `priority`. */
  priorityClasses: number
  /** Requests one priority class may hold waiting; one more gets a 429. */
  maxQueuedPerClass: number
  /** Seconds a 429 tells the client to wait (`Retry-After`). */
  retryAfterSeconds: number
  /** Milliseconds a request may take, queue and answer, when it names no deadline. */
  defaultDeadlineMs: number
  /** The longest deadline a request may name. */
  maxDeadlineMs: number
  /** A backend is saturated when running + waiting ≥ this × its max-num-seqs. */
  queueThreshold: number
  /** Used for a backend whose metrics do not give its max-num-seqs. */
  defaultMaxNumSeqs: number
  /** How often each backend's `/metrics` is read. */
  metricsIntervalMs: number
  /** Metrics older than this count as saturated. */
  metricsStalenessMs: number
  /** Arrivals within this many milliseconds are assigned together; 0 assigns each at once. */
  batchWindowMs: number
  kvOverlapScoreWeight: number
  routerTemperature: number
  /** Tokens per KV block, for a backend that does not report its own. */
  blockSize: number
  /** How long a block the frontend predicts a backend holds (it sent the prompt there) counts, unless an event confirms it. */
  kvPredictionTtlMs: number
  /** Requeues of a request a backend never took (refused connection, 503), each time elsewhere. */
  maxRetries: number
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
}

/** Every default in one place; environment variables override them, flags override both. */
export const defaults: FrontendConfig = {
  port: 8080,
  host: '0.0.0.0',
  ...Object.fromEntries(backendFields.map((field) => [field, routerDefaults[field]])),
  policy: 'kv',
  priorityClasses: 4,
  maxQueuedPerClass: 1000,
  retryAfterSeconds: 1,
  defaultDeadlineMs: 60_000,
  maxDeadlineMs: 600_000,
  queueThreshold: 1,
  defaultMaxNumSeqs: 256,
  metricsIntervalMs: 50,
  metricsStalenessMs: 1000,
  batchWindowMs: 2,
  kvOverlapScoreWeight: 1,
  routerTemperature: 0,
  blockSize: 16,
  kvPredictionTtlMs: 120_000,
  maxRetries: 1,
  maxRequestBodyBytes: 1024 * 1024,
  drainTimeoutMs: 25_000,
  ...connectionLimitDefaults,
  logLevel: 'info',
} as FrontendConfig

/** The router's settings of the same fields, with their flags, variables and descriptions. */
const sharedBackendSettings = routerSettings.filter((s) =>
  (backendFields as readonly string[]).includes(s.field),
) as unknown as Setting<FrontendConfig>[]

export const settings: readonly Setting<FrontendConfig>[] = [
  ...listenSettings<FrontendConfig>(),
  ...sharedBackendSettings,
  {
    field: 'policy',
    flag: 'policy',
    env: 'POLICY',
    kind: 'string',
    description: `How a backend is picked for each request: kv (cached overlap against load, as Dynamo's router), or one of the router's ${routerPolicyNames.join(', ')}`,
  },
  {
    field: 'priorityClasses',
    flag: 'priority-classes',
    env: 'PRIORITY_CLASSES',
    kind: 'integer',
    description: "Priorities a request may name, 0 to this minus 1; lower is served first (vLLM's priority field)",
  },
  {
    field: 'maxQueuedPerClass',
    flag: 'max-queued-per-class',
    env: 'MAX_QUEUED_PER_CLASS',
    kind: 'integer',
    description: 'Requests one priority may have waiting in the queue; one more is answered 429 with Retry-After',
  },
  {
    field: 'retryAfterSeconds',
    flag: 'retry-after-seconds',
    env: 'RETRY_AFTER_SECONDS',
    kind: 'integer',
    description: "Seconds a 429's Retry-After header tells the client to wait",
  },
  {
    field: 'defaultDeadlineMs',
    flag: 'default-deadline-ms',
    env: 'DEFAULT_DEADLINE_MS',
    kind: 'integer',
    description: 'Milliseconds a request may take, waiting and answer, when it sends no x-serving-lab-deadline-ms',
  },
  {
    field: 'maxDeadlineMs',
    flag: 'max-deadline-ms',
    env: 'MAX_DEADLINE_MS',
    kind: 'integer',
    description: 'The longest deadline a request may ask for with x-serving-lab-deadline-ms, in milliseconds',
  },
  {
    field: 'queueThreshold',
    flag: 'queue-threshold',
    env: 'QUEUE_THRESHOLD',
    kind: 'number',
    description:
      "A backend is saturated when its running plus waiting requests reach this times its max-num-seqs; requests wait here while every backend is (Dynamo's router queue threshold)",
  },
  {
    field: 'defaultMaxNumSeqs',
    flag: 'default-max-num-seqs',
    env: 'DEFAULT_MAX_NUM_SEQS',
    kind: 'integer',
    description: "A backend's max-num-seqs when its metrics do not say (vLLM's default is 256)",
  },
  {
    field: 'metricsIntervalMs',
    flag: 'metrics-interval-ms',
    env: 'METRICS_INTERVAL_MS',
    kind: 'integer',
    description: "Milliseconds between two reads of each backend's /metrics (llm-d's refresh interval is 50)",
  },
  {
    field: 'metricsStalenessMs',
    flag: 'metrics-staleness-ms',
    env: 'METRICS_STALENESS_MS',
    kind: 'integer',
    description:
      "A backend whose last good read of /metrics is older than this many milliseconds counts as saturated (llm-d's rule)",
  },
  {
    field: 'batchWindowMs',
    flag: 'batch-window-ms',
    env: 'BATCH_WINDOW_MS',
    kind: 'integer',
    description:
      'Arrivals within this many milliseconds are assigned together, highest priority first; 0 assigns each on arrival',
  },
  {
    field: 'kvOverlapScoreWeight',
    flag: 'kv-overlap-score-weight',
    env: 'KV_OVERLAP_SCORE_WEIGHT',
    kind: 'number',
    description:
      "kv policy: the weight of the prefill blocks left to compute against the decode blocks; above 1 favours time to first token (Dynamo's)",
  },
  {
    field: 'routerTemperature',
    flag: 'router-temperature',
    env: 'ROUTER_TEMPERATURE',
    kind: 'number',
    description: 'kv policy: 0 picks the lowest cost; above 0 samples backends by a softmax over their negated costs',
  },
  {
    field: 'blockSize',
    flag: 'block-size',
    env: 'BLOCK_SIZE',
    kind: 'integer',
    description:
      "Tokens per KV block, for a backend whose metrics and events do not give its own (vLLM's default is 16)",
  },
  {
    field: 'kvPredictionTtlMs',
    flag: 'kv-prediction-ttl-ms',
    env: 'KV_PREDICTION_TTL_MS',
    kind: 'integer',
    description:
      "kv policy: milliseconds a prompt sent to a backend counts as cached there before any event says so (Dynamo's approximate mode keeps 120 s)",
  },
  {
    field: 'maxRetries',
    flag: 'max-retries',
    env: 'MAX_RETRIES',
    kind: 'integer',
    description:
      'Times a request a backend never took (connection refused, or a 503) goes back to the queue, each time for another backend',
  },
  ...serverSettings<FrontendConfig>(),
]

export { ConfigError }

/** Defaults, then environment variables, then flags; then validated. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): FrontendConfig {
  return loadSettings(defaults, settings, argv, env, usage, validateConfig, (config) => {
    config.affinityHeader = config.affinityHeader.toLowerCase()
  })
}

/** Every rule the configuration breaks, one message each, naming the field; empty when valid. */
export function validateConfig(config: FrontendConfig): string[] {
  const errors: string[] = []
  const { integerIn, numberIn } = rangeRules(config, errors)
  integerIn('port', 0, 65535)
  if (config.host === '') errors.push('host must not be empty')
  validateBackendSettings(config, errors)
  if (!frontendPolicyNames.includes(config.policy))
    errors.push(`policy must be one of ${frontendPolicyNames.join(', ')} (got ${config.policy})`)
  integerIn('priorityClasses', 1, 100)
  integerIn('maxQueuedPerClass', 0)
  integerIn('retryAfterSeconds', 0)
  integerIn('defaultDeadlineMs', 1)
  integerIn('maxDeadlineMs', 1)
  if (config.defaultDeadlineMs > config.maxDeadlineMs)
    errors.push(
      `defaultDeadlineMs must not exceed maxDeadlineMs (${config.defaultDeadlineMs} > ${config.maxDeadlineMs})`,
    )
  numberIn('queueThreshold', 0.01, 1000)
  integerIn('defaultMaxNumSeqs', 1)
  integerIn('metricsIntervalMs', 1)
  integerIn('metricsStalenessMs', 1)
  if (config.metricsStalenessMs <= config.metricsIntervalMs)
    errors.push(
      `metricsStalenessMs must exceed metricsIntervalMs (${config.metricsStalenessMs} <= ${config.metricsIntervalMs}), or every backend would always be stale`,
    )
  integerIn('batchWindowMs', 0, 1000)
  numberIn('kvOverlapScoreWeight', 0, 1000)
  numberIn('routerTemperature', 0, 1000)
  integerIn('blockSize', 1, 1024)
  integerIn('kvPredictionTtlMs', 0)
  integerIn('maxRetries', 0, 10)
  validateServerSettings(config, errors)
  return errors
}

/** Every setting with its variables, default and description, for `--help` and flag errors. */
export function usage(): string {
  return usageOf('usage: frontend [flags]   (--backends URL,... or --service NAME)', defaults, settings)
}
