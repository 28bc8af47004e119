import { parseArgs } from 'node:util'

export interface ModelServerConfig {
  port: number
  host: string
  /** The model being "served"; only its name matters to the simulator. */
  model: string
  /** The name clients must send as `model`; empty means the same as `model`. */
  servedModelName: string
  maxModelLen: number
  timeToFirstTokenMs: number
  interTokenLatencyMs: number
  /** `max_tokens` when a request leaves it out (OpenAI's completions default is 16). */
  maxTokensDefault: number
  /** Seeds the generated text, so the same request always gets the same answer. */
  seed: number
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
  /** From the downward API (`metadata.name`); null outside a pod. */
  podName: string | null
  /** From the downward API (label `apps.kubernetes.io/pod-index`); null outside a StatefulSet. */
  podIndex: number | null
}

/** Every default in one place; environment variables override them, flags override both. */
export const defaults: ModelServerConfig = {
  port: 8000,
  host: '0.0.0.0',
  model: 'meta-llama/Llama-3.1-70B-Instruct',
  servedModelName: '',
  maxModelLen: 8192,
  timeToFirstTokenMs: 50,
  interTokenLatencyMs: 10,
  maxTokensDefault: 16,
  seed: 0,
  maxRequestBodyBytes: 1024 * 1024,
  drainTimeoutMs: 25_000,
  logLevel: 'info',
  podName: null,
  podIndex: null,
}

interface Setting {
  field: keyof ModelServerConfig
  /** Command-line flag without the dashes; settings without one come from the environment only. */
  flag?: string
  /**
   * Environment variable. None ends in `_PORT` or `_SERVICE_HOST`: Kubernetes injects such
   * variables for every Service in the namespace, and one named like a setting would override it.
   */
  env: string
  kind: 'string' | 'integer'
}

const settings: readonly Setting[] = [
  { field: 'port', flag: 'port', env: 'PORT', kind: 'integer' },
  { field: 'host', flag: 'host', env: 'HOST', kind: 'string' },
  { field: 'model', flag: 'model', env: 'MODEL', kind: 'string' },
  { field: 'servedModelName', flag: 'served-model-name', env: 'SERVED_MODEL_NAME', kind: 'string' },
  { field: 'maxModelLen', flag: 'max-model-len', env: 'MAX_MODEL_LEN', kind: 'integer' },
  { field: 'timeToFirstTokenMs', flag: 'time-to-first-token-ms', env: 'TIME_TO_FIRST_TOKEN_MS', kind: 'integer' },
  { field: 'interTokenLatencyMs', flag: 'inter-token-latency-ms', env: 'INTER_TOKEN_LATENCY_MS', kind: 'integer' },
  { field: 'maxTokensDefault', flag: 'max-tokens-default', env: 'MAX_TOKENS_DEFAULT', kind: 'integer' },
  { field: 'seed', flag: 'seed', env: 'SEED', kind: 'integer' },
  { field: 'maxRequestBodyBytes', flag: 'max-request-body-bytes', env: 'MAX_REQUEST_BODY_BYTES', kind: 'integer' },
  { field: 'drainTimeoutMs', flag: 'drain-timeout-ms', env: 'DRAIN_TIMEOUT_MS', kind: 'integer' },
  { field: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', kind: 'string' },
  { field: 'podName', env: 'POD_NAME', kind: 'string' },
  { field: 'podIndex', env: 'POD_INDEX', kind: 'integer' },
]

/** Bad flags, environment or values: the message names each field and the rule it breaks. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Defaults, then environment variables, then flags; then validated. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ModelServerConfig {
  const config: Record<string, unknown> = { ...defaults }
  for (const setting of settings) {
    const raw = env[setting.env]
    if (raw !== undefined && raw !== '') config[setting.field] = convert(raw, setting, setting.env)
  }
  for (const [flag, raw] of Object.entries(parseFlags(argv))) {
    const setting = settings.find((s) => s.flag === flag)
    if (setting && typeof raw === 'string') config[setting.field] = convert(raw, setting, `--${flag}`)
  }
  const result = config as unknown as ModelServerConfig
  if (result.servedModelName === '') result.servedModelName = result.model
  const errors = validateConfig(result)
  if (errors.length > 0) throw new ConfigError(`invalid configuration:\n  ${errors.join('\n  ')}`)
  return result
}

function parseFlags(argv: readonly string[]) {
  const options = Object.fromEntries(
    settings.filter((s) => s.flag).map((s) => [s.flag as string, { type: 'string' as const }]),
  )
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n${usage()}`)
  }
}

function convert(raw: string, setting: Setting, source: string): string | number {
  if (setting.kind === 'string') return raw
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${source} must be an integer, got "${raw}"`)
  return Number(raw)
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Every rule the configuration breaks, one message each, naming the field; empty when valid. */
export function validateConfig(config: ModelServerConfig): string[] {
  const errors: string[] = []
  const integerIn = (field: keyof ModelServerConfig, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const value = config[field]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`
      errors.push(`${field} must be an integer ${range} (got ${String(value)})`)
    }
  }
  const nonEmpty = (field: keyof ModelServerConfig) => {
    if (typeof config[field] !== 'string' || config[field] === '') errors.push(`${field} must not be empty`)
  }
  integerIn('port', 0, 65535)
  nonEmpty('host')
  nonEmpty('model')
  nonEmpty('servedModelName')
  integerIn('maxModelLen', 1)
  integerIn('timeToFirstTokenMs', 0)
  integerIn('interTokenLatencyMs', 0)
  integerIn('maxTokensDefault', 1)
  if (config.maxTokensDefault > config.maxModelLen && config.maxModelLen >= 1) {
    errors.push(`maxTokensDefault must not exceed maxModelLen (${config.maxTokensDefault} > ${config.maxModelLen})`)
  }
  integerIn('seed', 0)
  integerIn('maxRequestBodyBytes', 1)
  integerIn('drainTimeoutMs', 0)
  if (!logLevels.includes(config.logLevel)) {
    errors.push(`logLevel must be one of ${logLevels.join(', ')} (got ${config.logLevel})`)
  }
  if (config.podIndex !== null) integerIn('podIndex', 0)
  return errors
}

/** The flags with their environment variables and defaults, for `--help` and flag errors. */
export function usage(): string {
  const lines = settings
    .filter((s) => s.flag)
    .map((s) => `  --${s.flag} (env ${s.env}, default ${s.field === 'servedModelName' ? 'the model' : JSON.stringify(defaults[s.field])})`)
  return ['usage: model-server [flags]', ...lines, '  POD_NAME, POD_INDEX: read from the environment (downward API)'].join('\n')
}
