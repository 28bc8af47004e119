// How every workload reads its configuration: one literal with every default, then environment
// variables, then flags; each workload then validates the result with rules that name the field.
import { parseArgs } from 'node:util'

/** Bad flags, environment or values: the message names each field and the rule it breaks. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

export interface Setting<Config> {
  field: keyof Config & string
  /** Command-line flag without the dashes; settings without one come from the environment only. */
  flag?: string
  /**
   * Environment variable. Kubernetes injects `<SERVICE>_PORT` for every Service in the
   * namespace, so a name ending in `_PORT` can be overridden by a Service's: avoid them.
   */
  env: string
  /** Other variables that set the same field when `env` is unset (e.g. LeaderWorkerSet's names). */
  aliases?: string[]
  kind: 'string' | 'integer' | 'number' | 'list' | 'boolean'
  /**
   * One plain line for `--help` and the docs: what the setting does, and its unit. Not its
   * default, which is read from the defaults literal.
   */
  description: string
  /** Added to the message when a value cannot be converted. */
  hint?: string
  /** A check of the raw text before conversion, for mistakes worth their own message. */
  precheck?: (raw: string, source: string) => void
}

function convert<Config>(raw: string, setting: Setting<Config>, source: string): string | number | boolean | string[] {
  setting.precheck?.(raw, source)
  const hint = setting.hint ? ` (${setting.hint})` : ''
  switch (setting.kind) {
    case 'string':
      return raw
    case 'list':
      return raw
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    case 'number':
      if (!/^-?\d+(\.\d+)?$/.test(raw.trim())) throw new ConfigError(`${source} must be a number, got "${raw}"${hint}`)
      return Number(raw)
    case 'boolean':
      if (raw !== 'true' && raw !== 'false')
        throw new ConfigError(`${source} must be true or false, got "${raw}"${hint}`)
      return raw === 'true'
    case 'integer':
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${source} must be an integer, got "${raw}"${hint}`)
      return Number(raw)
  }
}

/** Defaults, then environment variables (a setting's own before its aliases), then flags. Not yet validated. */
export function readSettings<Config extends object>(
  defaults: Config,
  settings: readonly Setting<Config>[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  usage: () => string,
): Config {
  const config = { ...defaults } as Record<string, unknown>
  for (const setting of settings) {
    const source = [setting.env, ...(setting.aliases ?? [])].find((name) => env[name] !== undefined && env[name] !== '')
    if (source) config[setting.field] = convert(env[source]!, setting, source)
  }
  const options = Object.fromEntries(
    settings.filter((s) => s.flag).map((s) => [s.flag as string, { type: 'string' as const }]),
  )
  let flags: Record<string, unknown>
  try {
    flags = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n${usage()}`)
  }
  for (const [flag, raw] of Object.entries(flags)) {
    const setting = settings.find((s) => s.flag === flag)
    if (setting && typeof raw === 'string') config[setting.field] = convert(raw, setting, `--${flag}`)
  }
  return config as Config
}

/** Range rules that report into one list of errors, naming the field. */
export function rangeRules<Config extends object>(config: Config, errors: string[]) {
  const inRange = (field: keyof Config & string, min: number, max: number, integer: boolean) => {
    const value = config[field]
    if (typeof value !== 'number' || (integer && !Number.isInteger(value)) || !(value >= min && value <= max)) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`
      errors.push(`${field} must be ${integer ? 'an integer' : 'a number'} ${range} (got ${String(value)})`)
    }
  }
  return {
    integerIn: (field: keyof Config & string, min: number, max = Number.MAX_SAFE_INTEGER) =>
      inRange(field, min, max, true),
    numberIn: (field: keyof Config & string, min: number, max = Number.MAX_SAFE_INTEGER) =>
      inRange(field, min, max, false),
  }
}

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** One setting as `--help` and the docs' table show it. */
export interface SettingHelp {
  /** `--name`, or null for a setting read from the environment only. */
  flag: string | null
  /** The environment variable, then its aliases. */
  env: string[]
  kind: Setting<unknown>['kind']
  /** The default as text: JSON, or "none" for null (unset). */
  default: string
  description: string
}

export function settingsHelp<Config>(defaults: Config, settings: readonly Setting<Config>[]): SettingHelp[] {
  return settings.map((s) => ({
    flag: s.flag ? `--${s.flag}` : null,
    env: [s.env, ...(s.aliases ?? [])],
    kind: s.kind,
    default: defaults[s.field] === null ? 'none' : JSON.stringify(defaults[s.field]),
    description: s.description,
  }))
}

/** Every setting with its environment variables, default and description, for `--help` and flag errors. */
export function usageOf<Config>(title: string, defaults: Config, settings: readonly Setting<Config>[]): string {
  const help = settingsHelp(defaults, settings)
  const heading = (s: SettingHelp) =>
    s.flag
      ? `  ${s.flag} <${s.kind}> (env ${s.env.join(' or ')}, default ${s.default})`
      : `  ${s.env.join(' or ')} <${s.kind}> (default ${s.default})`
  const entries = (list: SettingHelp[]) => list.flatMap((s) => [heading(s), `      ${s.description}`])
  const envOnly = help.filter((s) => !s.flag)
  return [
    title,
    '',
    'A flag wins over its environment variable, which wins over the default. --help (-h) prints this.',
    '',
    ...entries(help.filter((s) => s.flag)),
    ...(envOnly.length > 0 ? ['', 'From the environment only:', ...entries(envOnly)] : []),
  ].join('\n')
}

/** A workload's `main`: `--help` or `-h` prints the usage and exits 0; a bad configuration exits 2 with its message. */
export function configFromCommandLine<Config>(
  load: (argv: readonly string[], env: NodeJS.ProcessEnv) => Config,
  usage: () => string,
): Config {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage())
    process.exit(0)
  }
  try {
    return load(argv, process.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    console.error(error.message)
    process.exit(2)
  }
}

/** How long a client may take, and how many connections it may hold, on every workload's HTTP server. */
export interface ConnectionLimitsConfig {
  /** Time to receive a request's headers; a slower client gets a 408 and the connection is closed. */
  headersTimeoutMs: number
  /** Time to receive a whole request, headers and body; a slower client gets a 408. */
  bodyTimeoutMs: number
  /** How long a kept-alive connection may sit idle between requests before it is closed. */
  idleTimeoutMs: number
  /** Connections open at once; the server closes any beyond them as soon as they are accepted. */
  maxConnections: number
}

/** nginx's 60 s header and body timeouts are for the open internet; clients in a cluster need less. */
export const connectionLimitDefaults: ConnectionLimitsConfig = {
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  // Longer than the keep-alive of the clients in front (Node's agent: 5 s idle sockets reused
  // at once), so the server never closes a connection a client is about to reuse.
  idleTimeoutMs: 72_000,
  maxConnections: 1024,
}

/** Where every workload's HTTP server listens; first in each workload's list, as `--help` shows it. */
export function listenSettings<Config extends { port: number; host: string }>(): Setting<Config>[] {
  return [
    { field: 'port', flag: 'port', env: 'PORT', kind: 'integer', description: 'Port the HTTP server listens on' },
    { field: 'host', flag: 'host', env: 'HOST', kind: 'string', description: 'Address the HTTP server listens on' },
  ] as Setting<Config>[]
}

/** What every workload's HTTP server takes besides its port and host. */
export interface ServerSettingsConfig extends ConnectionLimitsConfig {
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
}

/** The settings of every workload's HTTP server, in one place so both workloads describe them alike. */
export function serverSettings<Config extends ServerSettingsConfig>(): Setting<Config>[] {
  return [
    {
      field: 'maxRequestBodyBytes',
      flag: 'max-request-body-bytes',
      env: 'MAX_REQUEST_BODY_BYTES',
      kind: 'integer',
      description: 'Largest request body in bytes; a larger one gets a 413',
    },
    {
      field: 'drainTimeoutMs',
      flag: 'drain-timeout-ms',
      env: 'DRAIN_TIMEOUT_MS',
      kind: 'integer',
      description:
        'Milliseconds requests in flight (streams included) may take to finish after SIGTERM before they are cut off; keep it under terminationGracePeriodSeconds less any preStop wait',
    },
    {
      field: 'headersTimeoutMs',
      flag: 'headers-timeout-ms',
      env: 'HEADERS_TIMEOUT_MS',
      kind: 'integer',
      description: 'Milliseconds a client has to send its request headers before it gets a 408',
    },
    {
      field: 'bodyTimeoutMs',
      flag: 'body-timeout-ms',
      env: 'BODY_TIMEOUT_MS',
      kind: 'integer',
      description: 'Milliseconds a client has to send its whole request, body included, before it gets a 408',
    },
    {
      field: 'idleTimeoutMs',
      flag: 'idle-timeout-ms',
      env: 'IDLE_TIMEOUT_MS',
      kind: 'integer',
      description: 'Milliseconds a kept-alive connection may stay idle between requests before it is closed',
    },
    {
      field: 'maxConnections',
      flag: 'max-connections',
      env: 'MAX_CONNECTIONS',
      kind: 'integer',
      description: 'Connections open at once; more are closed as soon as they are accepted',
    },
    {
      field: 'logLevel',
      flag: 'log-level',
      env: 'LOG_LEVEL',
      kind: 'string',
      description: `Least severe level written to the log, one of ${logLevels.join(', ')}`,
    },
  ] as Setting<Config>[]
}

/**
 * The rules of `serverSettings()`, which end every workload's validation: the limits' rules
 * include that Node refuses a headers timeout longer than the request's.
 */
export function validateServerSettings(config: ServerSettingsConfig, errors: string[]): void {
  const { integerIn } = rangeRules(config, errors)
  integerIn('maxRequestBodyBytes', 1)
  integerIn('drainTimeoutMs', 0)
  integerIn('headersTimeoutMs', 1)
  integerIn('bodyTimeoutMs', 1)
  integerIn('idleTimeoutMs', 1)
  integerIn('maxConnections', 1)
  if (config.headersTimeoutMs > config.bodyTimeoutMs) {
    errors.push(
      `headersTimeoutMs must not exceed bodyTimeoutMs (${config.headersTimeoutMs} > ${config.bodyTimeoutMs}): the body timeout counts from the start of the request`,
    )
  }
  if (!logLevels.includes(config.logLevel))
    errors.push(`logLevel must be one of ${logLevels.join(', ')} (got ${config.logLevel})`)
}

/**
 * Defaults, then environment variables, then flags (`readSettings`); then what some settings take
 * from others (`derive`, e.g. a served name that defaults to the model's); then validated, every
 * error in one ConfigError.
 */
export function loadSettings<Config extends object>(
  defaults: Config,
  settings: readonly Setting<Config>[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  usage: () => string,
  validate: (config: Config) => string[],
  derive: (config: Config) => void = () => {},
): Config {
  const config = readSettings(defaults, settings, argv, env, usage)
  derive(config)
  const errors = validate(config)
  if (errors.length > 0) throw new ConfigError(`invalid configuration:\n  ${errors.join('\n  ')}`)
  return config
}
