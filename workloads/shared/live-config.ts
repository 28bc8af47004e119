import { readSettings, type Setting } from './config.ts'

/** One accepted version of the serving configuration, as the coordinator published it. */
export interface AcceptedVersion {
  generation: number
  fencingToken: number
  /** Each key is a workload's flag name; a workload applies only its own. */
  data: Record<string, string>
}

export type AppliedValue = string | number | boolean | string[] | null

/** What `GET /config` answers. */
export interface ConfigReport {
  /** The generation this process runs; 0 before any. */
  generation: number
  fencingToken: number
  /** Every key of that version this workload owns, with the value it runs. */
  applied: Record<string, AppliedValue>
  /** Keys whose value broke a rule, and why: the value before it is kept. */
  rejected: Record<string, string>
}

export interface LiveConfigOptions<Config extends object> {
  /** The configuration the workload runs. Changed in place: the hot path reads its fields. */
  config: Config
  /** The keys (flag names) this workload applies; any other key is ignored. */
  keys: readonly string[]
  settings: readonly Setting<Config>[]
  /** The workload's own rules, as at start. */
  validate(config: Config): string[]
}

export interface Applied<Config> {
  report: ConfigReport
  /** The fields whose value changed. */
  changed: (keyof Config & string)[]
}

/**
 * The part of a workload's configuration that follows the accepted version. Each version is
 * applied on top of the values the process started with, so a key removed from the ConfigMap
 * goes back to its flag's value. A value its own rules refuse keeps the value running.
 */
export class LiveConfig<Config extends object> {
  readonly #options: LiveConfigOptions<Config>
  readonly #startup: Config
  #report: ConfigReport = { generation: 0, fencingToken: 0, applied: {}, rejected: {} }
  #data = ''

  constructor(options: LiveConfigOptions<Config>) {
    this.#options = options
    this.#startup = { ...options.config }
  }

  get report(): ConfigReport {
    return this.#report
  }

  /** Applies a version; null when it is the one running. */
  apply(version: AcceptedVersion): Applied<Config> | null {
    const { config, keys, settings, validate } = this.#options
    const own = Object.entries(version.data)
      .filter(([key]) => keys.includes(key))
      .sort(([a], [b]) => a.localeCompare(b))
    const data = JSON.stringify(own)
    const current = this.#report
    if (
      version.generation === current.generation &&
      version.fencingToken === current.fencingToken &&
      data === this.#data
    )
      return null

    let next: Config = { ...this.#startup }
    const applied: Record<string, AppliedValue> = {}
    const rejected: Record<string, string> = {}
    for (const [key, raw] of own) {
      const setting = settings.find((s) => s.flag === key)
      if (!setting) continue
      const before = validate(next)
      try {
        const candidate = readSettings(next, [setting], [`--${key}=${raw.trim()}`], {}, () => '')
        const errors = validate(candidate).filter((error) => !before.includes(error))
        if (errors.length > 0) throw new Error(errors.join('; '))
        next = candidate
      } catch (error) {
        const named = (error as Error).message.replaceAll(`--${key}`, key)
        rejected[key] = named.replace(new RegExp(`\\b${setting.field}\\b`, 'g'), key)
        next = { ...next, [setting.field]: config[setting.field] }
      }
      applied[key] = next[setting.field] as AppliedValue
    }

    const changed = settings
      .filter((s) => s.flag && keys.includes(s.flag) && next[s.field] !== config[s.field])
      .map((s) => s.field)
    for (const field of changed) config[field] = next[field]
    this.#data = data
    this.#report = { generation: version.generation, fencingToken: version.fencingToken, applied, rejected }
    return { report: this.#report, changed }
  }
}
