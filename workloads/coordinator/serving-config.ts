/**
 * The serving configuration a learner edits in a ConfigMap, and its validation. Each key is the
 * flag of the workload that applies it live (`max-num-seqs` is the model server's
 * `--max-num-seqs`), and each value is checked with that workload's own conversion and rules, so
 * the coordinator accepts exactly what the workload would. Values are checked against the
 * workload's defaults: a rule that links a key to a flag not shared here (say max-tokens-default
 * and max-model-len) is the workload's to enforce again when it applies the version.
 */
import { readSettings, type Setting } from '../shared/config.ts'
import * as modelServer from '../model-server/config.ts'
import * as router from '../router/config.ts'

export type ServingData = Record<string, string>

interface Workload<Config extends object> {
  name: string
  keys: readonly string[]
  /** A configuration its own validation accepts, edits applied on top. */
  base: Config
  settings: readonly Setting<Config>[]
  validate: (config: Config) => string[]
}

const workloads = [
  {
    name: 'model-server',
    keys: modelServer.liveKeys,
    base: { ...modelServer.defaults, servedModelName: modelServer.defaults.model, rendezvousHost: '0.0.0.0' },
    settings: modelServer.settings,
    validate: modelServer.validateConfig,
  } satisfies Workload<modelServer.ModelServerConfig>,
  {
    name: 'router',
    keys: router.liveKeys,
    // A router needs backends or a Service to be valid; neither is shared here.
    base: { ...router.defaults, service: 'model-server', namespace: 'lab' },
    settings: router.settings,
    validate: router.validateConfig,
  } satisfies Workload<router.RouterConfig>,
]

/** Every key the serving configuration may hold, sorted. */
export const servingKeys: string[] = workloads.flatMap((w) => w.keys).sort()

/** The workload that applies a key. */
export function workloadOf(key: string): string | undefined {
  return workloads.find((w) => w.keys.includes(key))?.name
}

export type Validation = { valid: true; data: ServingData } | { valid: false; errors: string[] }

/**
 * Checks every key of a desired ConfigMap's data. Valid: the data to publish, keys sorted and
 * values trimmed. Invalid: one message per broken rule, naming the key, its value and the rule.
 */
export function validateServingConfig(data: ServingData): Validation {
  const entries = Object.entries(data)
    .map(([key, value]) => [key, value.trim()] as const)
    .sort(([a], [b]) => a.localeCompare(b))
  const errors = entries
    .filter(([key]) => !servingKeys.includes(key))
    .map(([key]) => `unknown key "${key}": the serving configuration takes ${servingKeys.join(', ')}`)
  for (const workload of workloads) {
    const own = entries.filter(([key]) => workload.keys.includes(key))
    errors.push(...checkWorkload(workload as Workload<object>, own))
  }
  if (errors.length > 0) return { valid: false, errors }
  return { valid: true, data: Object.fromEntries(entries) }
}

function checkWorkload<Config extends object>(
  workload: Workload<Config>,
  entries: (readonly [string, string])[],
): string[] {
  const errors: string[] = []
  let config = { ...workload.base }
  const keyOfField = new Map<string, string>()
  for (const [key, value] of entries) {
    const setting = workload.settings.find((s) => s.flag === key)!
    keyOfField.set(setting.field, key)
    try {
      config = readSettings(config, [setting], [`--${key}=${value}`], {}, () => '')
    } catch (error) {
      errors.push((error as Error).message.replace(`--${key}`, key))
    }
  }
  for (const message of workload.validate(config)) {
    let named = message
    for (const [field, key] of keyOfField) named = named.replace(new RegExp(`\\b${field}\\b`, 'g'), key)
    errors.push(`${named}, as the ${workload.name} requires`)
  }
  return errors
}

/** True when two versions hold the same keys and values. */
export function sameServingData(a: ServingData, b: ServingData): boolean {
  const canonical = (data: ServingData) => JSON.stringify(Object.entries(data).sort(([x], [y]) => x.localeCompare(y)))
  return canonical(a) === canonical(b)
}
