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
import { failureTypes } from './failures.ts'
import type { FailureType } from './failures.ts'
import { schedulingPolicies } from './scheduler.ts'
import type { SchedulingPolicy } from './scheduler.ts'

export type OutputMode = 'echo' | 'random'

export interface ModelServerConfig extends ConnectionLimitsConfig {
  port: number
  host: string
  /** The model being "served"; only its name matters to the simulator. */
  model: string
  /** The name clients must send as `model`; empty means the same as `model`. */
  servedModelName: string
  maxModelLen: number
  /** Base time to first token, before the prefill of the prompt's uncached tokens. */
  timeToFirstTokenMs: number
  timeToFirstTokenStdDevMs: number
  prefillTimePerTokenMs: number
  interTokenLatencyMs: number
  interTokenLatencyStdDevMs: number
  /** How much a full batch slows each decode step: ITL × (1 + loadSlowdown × running / maxNumSeqs). */
  loadSlowdown: number
  /** Sequences decoded at once; more wait in the queue. */
  maxNumSeqs: number
  /** Sequences that may wait; a request beyond them gets a 429. */
  maxWaitingRequests: number
  /** The waiting queue's order: arrival (fcfs), or the request's `priority` then arrival. */
  schedulingPolicy: SchedulingPolicy
  /** echo: the answer repeats the prompt; random: words drawn with the seeded generator. */
  mode: OutputMode
  /** The longest random answer when a request sets no `max_tokens` (OpenAI's completions default is 16). */
  maxTokensDefault: number
  /** Seeds the generated text and the random draws, so runs repeat. */
  seed: number
  /** Serve `GET`/`PUT /admin/failures` and allow a failure rate: for the lab only, off by default. */
  enableFailureInjection: boolean
  failureRate: number
  failureTypes: FailureType[]
  blockSize: number
  numGpuBlocks: number
  /** Clients `GET /kv-events` may have at once; beyond them, 503. */
  kvEventsMaxSubscribers: number
  /** A KV event subscriber with more bytes than this not yet taken is disconnected. */
  kvEventsMaxBufferedBytes: number
  /** Between the comments an idle KV event stream gets, so proxies keep it open. */
  kvEventsKeepAliveMs: number
  /** Serve vLLM's development route `POST /reset_prefix_cache`: for the lab only, off by default. */
  serverDevMode: boolean
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
  /** From the downward API (`metadata.name`); null outside a pod. */
  podName: string | null
  /** From the downward API (label `apps.kubernetes.io/pod-index`); null outside a StatefulSet. */
  podIndex: number | null
  /** The leader's host, where node rank 0 listens for the group's rendezvous. */
  masterAddr: string
  masterPort: number
  /** This pod's rank in the group; 0 is the leader. */
  nodeRank: number
  /** Pods in the group; 1 means no group. */
  nnodes: number
  /** Processes (one per GPU) in each pod. */
  gpusPerNode: number
  /** Processes in the whole group, if given: must be nnodes × gpusPerNode. */
  worldSize: number | null
  tensorParallelSize: number | null
  pipelineParallelSize: number | null
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  /** A rank that does not acknowledge a token step within this breaks the group. */
  stepTimeoutMs: number
  /** Every rank presents it (as an HMAC of the leader's challenge) to join; required when nnodes > 1. */
  groupSecret: string
  /** Where the leader listens for the rendezvous: the pod's own address; empty means `host`. */
  rendezvousHost: string
  /** The accepted serving configuration's ConfigMap to follow live; empty: none. */
  acceptedConfig: string
  /** The pod's namespace (downward API), where the accepted ConfigMap is. */
  namespace: string
  /** Only wait until the leader's rendezvous accepts a connection, then exit: an init container. */
  waitForRendezvous: boolean
  waitTimeoutMs: number
}

/** The settings the accepted serving configuration may change live, by flag. */
export const liveKeys: readonly string[] = [
  'max-num-seqs',
  'max-waiting-requests',
  'time-to-first-token-ms',
  'time-to-first-token-std-dev-ms',
  'prefill-time-per-token-ms',
  'inter-token-latency-ms',
  'inter-token-latency-std-dev-ms',
  'load-slowdown',
]

/** Every default in one place; environment variables override them, flags override both. */
export const defaults: ModelServerConfig = {
  port: 8000,
  host: '0.0.0.0',
  model: 'meta-llama/Llama-3.1-70B-Instruct',
  servedModelName: '',
  maxModelLen: 8192,
  timeToFirstTokenMs: 50,
  timeToFirstTokenStdDevMs: 0,
  prefillTimePerTokenMs: 0.1,
  interTokenLatencyMs: 10,
  interTokenLatencyStdDevMs: 0,
  loadSlowdown: 0.5,
  maxNumSeqs: 256,
  maxWaitingRequests: 1024,
  schedulingPolicy: 'fcfs',
  mode: 'random',
  maxTokensDefault: 16,
  seed: 0,
  enableFailureInjection: false,
  failureRate: 0,
  failureTypes: [],
  blockSize: 16,
  numGpuBlocks: 2048,
  kvEventsMaxSubscribers: 16,
  kvEventsMaxBufferedBytes: 1024 * 1024,
  kvEventsKeepAliveMs: 15_000,
  serverDevMode: false,
  maxRequestBodyBytes: 1024 * 1024,
  drainTimeoutMs: 25_000,
  ...connectionLimitDefaults,
  logLevel: 'info',
  podName: null,
  podIndex: null,
  masterAddr: '127.0.0.1',
  masterPort: 29500,
  nodeRank: 0,
  nnodes: 1,
  gpusPerNode: 1,
  worldSize: null,
  tensorParallelSize: null,
  pipelineParallelSize: null,
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 3000,
  stepTimeoutMs: 5000,
  groupSecret: '',
  rendezvousHost: '',
  acceptedConfig: '',
  namespace: '',
  waitForRendezvous: false,
  waitTimeoutMs: 300_000,
}

const modes: OutputMode[] = ['echo', 'random']

// Only MASTER_PORT ends in `_PORT` (torch's name, which manifests expect; see Setting.env).
export const settings: readonly Setting<ModelServerConfig>[] = [
  ...listenSettings<ModelServerConfig>(),
  {
    field: 'model',
    flag: 'model',
    env: 'MODEL',
    kind: 'string',
    description: 'The model being simulated, by name only (no weights are loaded); /v1/models shows it as root',
  },
  {
    field: 'servedModelName',
    flag: 'served-model-name',
    env: 'SERVED_MODEL_NAME',
    kind: 'string',
    description: 'The name clients must send as model (any other gets a 404); empty means the --model name',
  },
  {
    field: 'maxModelLen',
    flag: 'max-model-len',
    env: 'MAX_MODEL_LEN',
    kind: 'integer',
    description: 'Context length in tokens, prompt and answer together; a request beyond it gets a 400',
  },
  {
    field: 'timeToFirstTokenMs',
    flag: 'time-to-first-token-ms',
    env: 'TIME_TO_FIRST_TOKEN_MS',
    kind: 'integer',
    description: 'Base time to first token in milliseconds, before the prefill of uncached prompt tokens is added',
  },
  {
    field: 'timeToFirstTokenStdDevMs',
    flag: 'time-to-first-token-std-dev-ms',
    env: 'TIME_TO_FIRST_TOKEN_STD_DEV_MS',
    kind: 'integer',
    description: 'Standard deviation in milliseconds of a normal jitter on the base time to first token; 0 for none',
  },
  {
    field: 'prefillTimePerTokenMs',
    flag: 'prefill-time-per-token-ms',
    env: 'PREFILL_TIME_PER_TOKEN_MS',
    kind: 'number',
    description: 'Milliseconds added to the time to first token per prompt token not found in the prefix cache',
  },
  {
    field: 'interTokenLatencyMs',
    flag: 'inter-token-latency-ms',
    env: 'INTER_TOKEN_LATENCY_MS',
    kind: 'integer',
    description: 'Milliseconds between two tokens of an answer, before the load slowdown',
  },
  {
    field: 'interTokenLatencyStdDevMs',
    flag: 'inter-token-latency-std-dev-ms',
    env: 'INTER_TOKEN_LATENCY_STD_DEV_MS',
    kind: 'integer',
    description: 'Standard deviation in milliseconds of a normal jitter on the inter-token latency; 0 for none',
  },
  {
    field: 'loadSlowdown',
    flag: 'load-slowdown',
    env: 'LOAD_SLOWDOWN',
    kind: 'number',
    description: 'How much a full batch slows each token: inter-token latency × (1 + this × running / --max-num-seqs)',
  },
  {
    field: 'maxNumSeqs',
    flag: 'max-num-seqs',
    env: 'MAX_NUM_SEQS',
    kind: 'integer',
    description: 'Sequences decoded at once; the others wait in the queue',
  },
  {
    field: 'maxWaitingRequests',
    flag: 'max-waiting-requests',
    env: 'MAX_WAITING_REQUESTS',
    kind: 'integer',
    description: 'Sequences that may wait in the queue; a request beyond them gets a 429',
  },
  {
    field: 'schedulingPolicy',
    flag: 'scheduling-policy',
    env: 'SCHEDULING_POLICY',
    kind: 'string',
    description: `The waiting queue's order, one of ${schedulingPolicies.join(', ')}: fcfs by arrival (a request's priority other than 0 gets a 400), priority by the request's priority field, lower first, then arrival`,
  },
  {
    field: 'mode',
    flag: 'mode',
    env: 'MODE',
    kind: 'string',
    description: `The answers' text, one of ${modes.join(', ')}: echo repeats the prompt (chat: the last user message), random draws words`,
  },
  {
    field: 'maxTokensDefault',
    flag: 'max-tokens-default',
    env: 'MAX_TOKENS_DEFAULT',
    kind: 'integer',
    description:
      'Longest random answer in tokens when a request sets no max_tokens; its length is drawn from 1 to this',
  },
  {
    field: 'seed',
    flag: 'seed',
    env: 'SEED',
    kind: 'integer',
    description: 'Seed of every random draw (answer words, latency jitter, injected failures), so runs repeat',
  },
  {
    field: 'enableFailureInjection',
    flag: 'enable-failure-injection',
    env: 'ENABLE_FAILURE_INJECTION',
    kind: 'boolean',
    description:
      'Serve /admin/failures and allow --failure-rate: anyone who reaches the API port can then make it fail (lab only)',
  },
  {
    field: 'failureRate',
    flag: 'failure-rate',
    env: 'FAILURE_RATE',
    kind: 'number',
    description: 'Share of requests, from 0 to 1, answered with an injected error (PUT /admin/failures changes it)',
  },
  {
    field: 'failureTypes',
    flag: 'failure-types',
    env: 'FAILURE_TYPES',
    kind: 'list',
    description: `Comma-separated errors to inject, among ${failureTypes.join(', ')}; empty means all`,
  },
  {
    field: 'blockSize',
    flag: 'block-size',
    env: 'BLOCK_SIZE',
    kind: 'integer',
    description: 'Tokens per KV cache block, the unit of the prefix cache',
  },
  {
    field: 'numGpuBlocks',
    flag: 'num-gpu-blocks',
    env: 'NUM_GPU_BLOCKS',
    kind: 'integer',
    description: 'KV cache blocks; a sequence waits until there are enough for its prompt and its whole answer',
  },
  {
    field: 'kvEventsMaxSubscribers',
    flag: 'kv-events-max-subscribers',
    env: 'KV_EVENTS_MAX_SUBSCRIBERS',
    kind: 'integer',
    description:
      'Clients GET /kv-events may have at once (KV-aware routers); one more gets a 503; 0 turns the events off',
  },
  {
    field: 'kvEventsMaxBufferedBytes',
    flag: 'kv-events-max-buffered-bytes',
    env: 'KV_EVENTS_MAX_BUFFERED_BYTES',
    kind: 'integer',
    description:
      'Bytes of KV events a subscriber may leave untaken; beyond them it is disconnected, and reconnects to a fresh snapshot',
  },
  {
    field: 'kvEventsKeepAliveMs',
    flag: 'kv-events-keep-alive-ms',
    env: 'KV_EVENTS_KEEP_ALIVE_MS',
    kind: 'integer',
    description: 'Milliseconds between the keep-alive comments of a KV event stream, so idle proxies do not cut it',
  },
  {
    field: 'serverDevMode',
    flag: 'server-dev-mode',
    env: 'SERVER_DEV_MODE',
    kind: 'boolean',
    description:
      "Serve vLLM's development route POST /reset_prefix_cache (vLLM: VLLM_SERVER_DEV_MODE=1): anyone who reaches the API port can then empty the prefix cache (lab only)",
  },
  ...serverSettings<ModelServerConfig>(),
  {
    field: 'podName',
    env: 'POD_NAME',
    kind: 'string',
    description: "This pod's name (downward API metadata.name), added to log lines and /version",
  },
  {
    field: 'podIndex',
    env: 'POD_INDEX',
    kind: 'integer',
    description: "This pod's index (downward API label apps.kubernetes.io/pod-index), added to log lines and /version",
  },
  {
    field: 'masterAddr',
    flag: 'master-addr',
    env: 'MASTER_ADDR',
    aliases: ['LWS_LEADER_ADDRESS'],
    kind: 'string',
    description: "The leader's host (node rank 0), where the other ranks connect to join the group",
  },
  {
    field: 'masterPort',
    flag: 'master-port',
    env: 'MASTER_PORT',
    kind: 'integer',
    description: 'Port the leader listens on for the other ranks (nothing listens when NNODES is 1)',
    precheck: (raw, source) => {
      if (raw.startsWith('tcp://')) {
        throw new ConfigError(
          `${source} is "${raw}": Kubernetes set it for a Service named "master" in this namespace. Rename that Service, or set enableServiceLinks: false on the pod.`,
        )
      }
    },
  },
  {
    field: 'nodeRank',
    flag: 'node-rank',
    env: 'NODE_RANK',
    aliases: ['LWS_WORKER_INDEX'],
    kind: 'integer',
    description: "This pod's rank, from 0 to NNODES - 1; 0 is the leader, the only rank that serves the API",
    hint: "a pod's name is not its rank: take the number from the label apps.kubernetes.io/pod-index (downward API) or LeaderWorkerSet's LWS_WORKER_INDEX",
  },
  {
    field: 'nnodes',
    flag: 'nnodes',
    env: 'NNODES',
    aliases: ['LWS_GROUP_SIZE'],
    kind: 'integer',
    description: 'Pods in the group; 1 means no group',
  },
  {
    field: 'gpusPerNode',
    env: 'GPUS_PER_NODE',
    kind: 'integer',
    description: 'Processes (one per GPU) in each pod; every rank of the group must have the same',
  },
  {
    field: 'worldSize',
    env: 'WORLD_SIZE',
    kind: 'integer',
    description: 'Checked only: processes in the whole group, which must equal NNODES × GPUS_PER_NODE',
  },
  {
    field: 'tensorParallelSize',
    flag: 'tensor-parallel-size',
    env: 'TENSOR_PARALLEL_SIZE',
    kind: 'integer',
    description: 'Checked only: this × --pipeline-parallel-size (1 when unset) must equal the world size',
  },
  {
    field: 'pipelineParallelSize',
    flag: 'pipeline-parallel-size',
    env: 'PIPELINE_PARALLEL_SIZE',
    kind: 'integer',
    description: 'Checked only: --tensor-parallel-size (1 when unset) × this must equal the world size',
  },
  {
    field: 'heartbeatIntervalMs',
    flag: 'heartbeat-interval-ms',
    env: 'HEARTBEAT_INTERVAL_MS',
    kind: 'integer',
    description: 'Milliseconds between the heartbeats the leader and each rank send each other',
  },
  {
    field: 'heartbeatTimeoutMs',
    flag: 'heartbeat-timeout-ms',
    env: 'HEARTBEAT_TIMEOUT_MS',
    kind: 'integer',
    description: 'Milliseconds without a heartbeat after which a rank or the leader is lost and the group breaks',
  },
  {
    field: 'stepTimeoutMs',
    flag: 'step-timeout-ms',
    env: 'STEP_TIMEOUT_MS',
    kind: 'integer',
    description: 'Milliseconds a rank has to acknowledge a step; one that does not breaks the group, which forms again',
  },
  {
    field: 'groupSecret',
    env: 'GROUP_SECRET',
    kind: 'string',
    description:
      'Shared by every rank of the group (from a Kubernetes Secret): only ranks that prove they hold it may join',
  },
  {
    field: 'rendezvousHost',
    flag: 'rendezvous-host',
    env: 'RENDEZVOUS_HOST',
    kind: 'string',
    description:
      "Address the leader's rendezvous listens on: the pod's IP (status.podIP); empty means the same as --host",
  },
  {
    field: 'acceptedConfig',
    flag: 'accepted-config',
    env: 'ACCEPTED_CONFIG',
    kind: 'string',
    description: `ConfigMap in --namespace whose serving configuration (${liveKeys.join(', ')}) is applied live, watched through the API; empty for none`,
  },
  {
    field: 'namespace',
    flag: 'namespace',
    env: 'POD_NAMESPACE',
    kind: 'string',
    description: "This pod's namespace (downward API metadata.namespace), where --accepted-config is read",
  },
  {
    field: 'waitForRendezvous',
    flag: 'wait-for-rendezvous',
    env: 'WAIT_FOR_RENDEZVOUS',
    kind: 'boolean',
    description:
      'Init container mode: wait until MASTER_ADDR:MASTER_PORT accepts a TCP connection, then exit 0 (rank 0 at once); serve nothing',
  },
  {
    field: 'waitTimeoutMs',
    flag: 'wait-timeout-ms',
    env: 'WAIT_TIMEOUT_MS',
    kind: 'integer',
    description: 'Milliseconds --wait-for-rendezvous waits for the leader before it gives up and exits 1',
  },
]

export { ConfigError }

/** Defaults, then environment variables (a setting's own before its aliases), then flags; then validated. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ModelServerConfig {
  return loadSettings(defaults, settings, argv, env, usage, validateConfig, (config) => {
    if (config.servedModelName === '') config.servedModelName = config.model
    if (config.rendezvousHost === '') config.rendezvousHost = config.host
  })
}

/** Every rule the configuration breaks, one message each, naming the field; empty when valid. */
export function validateConfig(config: ModelServerConfig): string[] {
  const errors: string[] = []
  const { integerIn, numberIn } = rangeRules(config, errors)
  const nonEmpty = (field: keyof ModelServerConfig) => {
    if (typeof config[field] !== 'string' || config[field] === '') errors.push(`${field} must not be empty`)
  }
  integerIn('port', 0, 65535)
  nonEmpty('host')
  nonEmpty('model')
  nonEmpty('servedModelName')
  integerIn('maxModelLen', 1)
  integerIn('timeToFirstTokenMs', 0)
  integerIn('timeToFirstTokenStdDevMs', 0)
  numberIn('prefillTimePerTokenMs', 0)
  integerIn('interTokenLatencyMs', 0)
  integerIn('interTokenLatencyStdDevMs', 0)
  numberIn('loadSlowdown', 0)
  integerIn('maxNumSeqs', 1)
  integerIn('maxWaitingRequests', 0)
  if (!schedulingPolicies.includes(config.schedulingPolicy))
    errors.push(`schedulingPolicy must be one of ${schedulingPolicies.join(', ')} (got ${config.schedulingPolicy})`)
  if (!modes.includes(config.mode)) errors.push(`mode must be one of ${modes.join(', ')} (got ${config.mode})`)
  integerIn('maxTokensDefault', 1)
  if (config.maxTokensDefault > config.maxModelLen && config.maxModelLen >= 1) {
    errors.push(`maxTokensDefault must not exceed maxModelLen (${config.maxTokensDefault} > ${config.maxModelLen})`)
  }
  integerIn('seed', 0)
  numberIn('failureRate', 0, 1)
  if (config.failureRate > 0 && !config.enableFailureInjection) {
    errors.push('failureRate needs enableFailureInjection: --enable-failure-injection true (for the lab only)')
  }
  const unknown = config.failureTypes.filter((type) => !failureTypes.includes(type))
  if (unknown.length > 0)
    errors.push(`failureTypes must be among ${failureTypes.join(', ')} (got ${unknown.join(', ')})`)
  integerIn('blockSize', 1)
  integerIn('numGpuBlocks', 1)
  integerIn('kvEventsMaxSubscribers', 0)
  integerIn('kvEventsMaxBufferedBytes', 1)
  integerIn('kvEventsKeepAliveMs', 1)
  if (config.numGpuBlocks * config.blockSize < config.maxModelLen) {
    errors.push(
      `maxModelLen (${config.maxModelLen}) is larger than the KV cache can hold ` +
        `(numGpuBlocks × blockSize = ${config.numGpuBlocks * config.blockSize} tokens)`,
    )
  }
  validateServerSettings(config, errors)
  if (config.podIndex !== null) integerIn('podIndex', 0)
  if (config.acceptedConfig !== '' && config.namespace === '')
    errors.push('namespace is required with acceptedConfig: --namespace NS, or POD_NAMESPACE from the downward API')
  integerIn('waitTimeoutMs', 1)
  errors.push(...validateGroup(config))
  return errors
}

/** Short enough to type in a lab, long enough that guessing is no attack. */
const minSecretLength = 16

/**
 * The group's rules, in the names manifests use (the environment variables), since that is
 * where a wrong value comes from.
 */
function validateGroup(config: ModelServerConfig): string[] {
  const errors: string[] = []
  const positive = (value: number, name: string) => {
    if (!Number.isInteger(value) || value < 1) errors.push(`${name} must be an integer at least 1 (got ${value})`)
  }
  if (config.masterAddr === '') errors.push('MASTER_ADDR must not be empty')
  if (!Number.isInteger(config.masterPort) || config.masterPort < 1 || config.masterPort > 65535) {
    errors.push(`MASTER_PORT must be an integer from 1 to 65535 (got ${config.masterPort})`)
  }
  positive(config.nnodes, 'NNODES')
  positive(config.gpusPerNode, 'GPUS_PER_NODE')
  if (!Number.isInteger(config.nodeRank) || config.nodeRank < 0 || config.nodeRank >= config.nnodes) {
    errors.push(`NODE_RANK must be an integer from 0 to NNODES - 1 = ${config.nnodes - 1} (got ${config.nodeRank})`)
  }
  const worldSize = config.nnodes * config.gpusPerNode
  if (config.worldSize !== null && config.worldSize !== worldSize) {
    errors.push(
      `WORLD_SIZE counts processes (one per GPU): NNODES × GPUS_PER_NODE = ${worldSize}, not ${config.worldSize}`,
    )
  }
  if (config.tensorParallelSize !== null || config.pipelineParallelSize !== null) {
    const tp = config.tensorParallelSize ?? 1
    const pp = config.pipelineParallelSize ?? 1
    positive(tp, '--tensor-parallel-size')
    positive(pp, '--pipeline-parallel-size')
    if (tp * pp !== worldSize) {
      errors.push(
        `--tensor-parallel-size × --pipeline-parallel-size must equal the world size NNODES × GPUS_PER_NODE = ${worldSize} ` +
          `(got ${tp} × ${pp} = ${tp * pp})`,
      )
    }
  }
  positive(config.stepTimeoutMs, '--step-timeout-ms')
  if (config.nnodes > 1 && config.groupSecret.length < minSecretLength) {
    errors.push(
      config.groupSecret === ''
        ? `GROUP_SECRET must be set when NNODES > 1: every rank proves it holds it to join the group (put it in a Kubernetes Secret and pass it with env.valueFrom.secretKeyRef)`
        : `GROUP_SECRET must be at least ${minSecretLength} characters (got ${config.groupSecret.length})`,
    )
  }
  positive(config.heartbeatIntervalMs, '--heartbeat-interval-ms')
  if (config.heartbeatTimeoutMs <= config.heartbeatIntervalMs) {
    errors.push(
      `--heartbeat-timeout-ms must be longer than --heartbeat-interval-ms ` +
        `(${config.heartbeatTimeoutMs} <= ${config.heartbeatIntervalMs}), or every pause would drop a rank`,
    )
  }
  return errors
}

/** Every setting with its variables, default and description, for `--help` and flag errors. */
export function usage(): string {
  return usageOf('usage: model-server [flags]', defaults, settings)
}
