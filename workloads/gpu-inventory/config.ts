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

export const sources = ['auto', 'nvidia-smi', 'pods'] as const

export interface GpuInventoryConfig extends ConnectionLimitsConfig {
  port: number
  host: string
  /** The node this agent reports on: the pod's spec.nodeName. */
  nodeName: string
  /** Where the figures come from; auto: nvidia-smi if it runs here, else the node's labels and pods. */
  source: string
  nvidiaSmi: string
  pollIntervalMs: number
  relistIntervalMs: number
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
}

export const defaults: GpuInventoryConfig = {
  port: 8080,
  host: '0.0.0.0',
  nodeName: '',
  source: 'auto',
  nvidiaSmi: 'nvidia-smi',
  pollIntervalMs: 5000,
  relistIntervalMs: 30_000,
  maxRequestBodyBytes: 64 * 1024,
  drainTimeoutMs: 5000,
  ...connectionLimitDefaults,
  logLevel: 'info',
}

export const settings: readonly Setting<GpuInventoryConfig>[] = [
  ...listenSettings<GpuInventoryConfig>(),
  {
    field: 'nodeName',
    flag: 'node-name',
    env: 'NODE_NAME',
    kind: 'string',
    description: 'The node whose GPUs this agent reports; in a DaemonSet pod, spec.nodeName from the downward API',
  },
  {
    field: 'source',
    flag: 'source',
    env: 'INVENTORY_SOURCE',
    kind: 'string',
    description: `Where the figures come from: ${sources.join(', ')} (auto: nvidia-smi where it runs, else node labels and the pods bound to the node)`,
  },
  {
    field: 'nvidiaSmi',
    flag: 'nvidia-smi',
    env: 'NVIDIA_SMI',
    kind: 'string',
    description: 'The nvidia-smi program to run, a name on PATH or a path',
  },
  {
    field: 'pollIntervalMs',
    flag: 'poll-interval-ms',
    env: 'POLL_INTERVAL_MS',
    kind: 'integer',
    description:
      'Milliseconds between two nvidia-smi readings; the ResourceSlice is written only when a figure changed',
  },
  {
    field: 'relistIntervalMs',
    flag: 'relist-interval-ms',
    env: 'RELIST_INTERVAL_MS',
    kind: 'integer',
    description: 'Milliseconds after which the watches of the node and its pods end and are listed again',
  },
  ...serverSettings<GpuInventoryConfig>(),
]

export { ConfigError }

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): GpuInventoryConfig {
  return loadSettings(defaults, settings, argv, env, usage, validateConfig)
}

export function validateConfig(config: GpuInventoryConfig): string[] {
  const errors: string[] = []
  const { integerIn } = rangeRules(config, errors)
  integerIn('port', 0, 65535)
  if (config.host === '') errors.push('host must not be empty: --host ADDRESS')
  if (config.nodeName === '') errors.push('nodeName must not be empty: --node-name NODE, or NODE_NAME (downward API)')
  if (!(sources as readonly string[]).includes(config.source))
    errors.push(`source must be one of ${sources.join(', ')} (got ${config.source})`)
  if (config.nvidiaSmi === '') errors.push('nvidiaSmi must not be empty: --nvidia-smi PROGRAM')
  integerIn('pollIntervalMs', 100)
  integerIn('relistIntervalMs', 1000)
  validateServerSettings(config, errors)
  return errors
}

export function usage(): string {
  return usageOf(
    "usage: gpu-inventory [flags]   (one per node: a DaemonSet; writes the node's GPUs as a ResourceSlice)",
    defaults,
    settings,
  )
}
