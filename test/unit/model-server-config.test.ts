import { describe, expect, it } from 'vitest'
import { ConfigError, defaults, loadConfig, usage, validateConfig } from '../../workloads/model-server/config.ts'

describe('model-server configuration', () => {
  it('uses the defaults when nothing is set, serving the model under its own name', () => {
    const config = loadConfig([], {})
    expect(config).toEqual({ ...defaults, servedModelName: defaults.model, rendezvousHost: defaults.host })
    expect(config.port).toBe(8000)
    expect(config.model).toBe('meta-llama/Llama-3.1-70B-Instruct')
    expect([config.nnodes, config.nodeRank, config.masterAddr, config.masterPort]).toEqual([1, 0, '127.0.0.1', 29500])
  })

  it('takes environment variables over defaults, including the downward API fields', () => {
    const config = loadConfig([], { PORT: '9000', SERVED_MODEL_NAME: 'llama', POD_NAME: 'llama-0', POD_INDEX: '2' })
    expect(config.port).toBe(9000)
    expect(config.servedModelName).toBe('llama')
    expect(config.podName).toBe('llama-0')
    expect(config.podIndex).toBe(2)
  })

  it('takes flags over environment variables', () => {
    const config = loadConfig(['--port', '9100', '--max-model-len=4096'], { PORT: '9000', MAX_MODEL_LEN: '2048' })
    expect(config.port).toBe(9100)
    expect(config.maxModelLen).toBe(4096)
  })

  it('derives the served name from the model chosen by a flag', () => {
    expect(loadConfig(['--model', 'deepseek-ai/DeepSeek-R1'], {}).servedModelName).toBe('deepseek-ai/DeepSeek-R1')
  })

  it('treats an empty environment variable as unset', () => {
    expect(loadConfig([], { PORT: '' }).port).toBe(8000)
  })

  it('reads numbers with fractions and comma-separated lists', () => {
    const config = loadConfig(['--prefill-time-per-token-ms', '0.25', '--failure-types', 'rate_limit, timeout'], {
      LOAD_SLOWDOWN: '1.5',
    })
    expect(config.prefillTimePerTokenMs).toBe(0.25)
    expect(config.loadSlowdown).toBe(1.5)
    expect(config.failureTypes).toEqual(['rate_limit', 'timeout'])
    expect(() => loadConfig(['--failure-rate', 'half'], {})).toThrow(/--failure-rate must be a number, got "half"/)
  })

  it('names the flag or variable whose value is not an integer', () => {
    expect(() => loadConfig(['--seed', 'abc'], {})).toThrow(/--seed must be an integer, got "abc"/)
    expect(() => loadConfig([], { TIME_TO_FIRST_TOKEN_MS: '1.5' })).toThrow(/TIME_TO_FIRST_TOKEN_MS must be an integer/)
  })

  it('rejects an unknown flag', () => {
    expect(() => loadConfig(['--pipeline-parallel', '2'], {})).toThrow(ConfigError)
  })

  it('reports every broken rule, naming the field', () => {
    const errors = validateConfig({
      ...defaults,
      port: 70000,
      servedModelName: '',
      maxTokensDefault: 9000,
      logLevel: 'loud',
      podIndex: -1,
    })
    expect(errors).toEqual([
      'port must be an integer from 0 to 65535 (got 70000)',
      'servedModelName must not be empty',
      'maxTokensDefault must not exceed maxModelLen (9000 > 8192)',
      expect.stringMatching(/^logLevel must be one of .* \(got loud\)$/),
      'podIndex must be an integer at least 0 (got -1)',
    ])
  })

  it('checks the capacity and failure settings', () => {
    const errors = validateConfig({
      ...defaults,
      servedModelName: 'm',
      maxNumSeqs: 0,
      schedulingPolicy: 'lifo' as 'fcfs',
      mode: 'loud' as 'echo',
      failureRate: 2,
      failureTypes: ['server_error', 'meteor' as 'timeout'],
      numGpuBlocks: 10,
    })
    expect(errors).toEqual([
      'maxNumSeqs must be an integer at least 1 (got 0)',
      'schedulingPolicy must be one of fcfs, priority (got lifo)',
      'mode must be one of echo, random (got loud)',
      'failureRate must be a number from 0 to 1 (got 2)',
      'failureRate needs enableFailureInjection: --enable-failure-injection true (for the lab only)',
      expect.stringMatching(/^failureTypes must be among .*rate_limit.* \(got meteor\)$/),
      'maxModelLen (8192) is larger than the KV cache can hold (numGpuBlocks × blockSize = 160 tokens)',
    ])
  })

  it('refuses to start with an invalid configuration, listing the problems', () => {
    expect(() => loadConfig(['--inter-token-latency-ms=-5'], {})).toThrow(
      /interTokenLatencyMs must be an integer at least 0 \(got -5\)/,
    )
  })

  it('accepts the defaults as valid', () => {
    expect(validateConfig({ ...defaults, servedModelName: defaults.model })).toEqual([])
  })

  it('lists every flag and environment-only setting in the usage', () => {
    expect(usage()).toContain('--master-addr <string> (env MASTER_ADDR or LWS_LEADER_ADDRESS, default "127.0.0.1")')
    expect(usage()).toContain('GPUS_PER_NODE <integer> (default 1)')
  })
})

describe('model-server group settings', () => {
  const secret = 'a-group-secret-of-the-lab'

  it('requires a group secret of several ranks, but not of one', () => {
    expect(() => loadConfig([], { NNODES: '2' })).toThrow(/GROUP_SECRET must be set when NNODES > 1/)
    expect(() => loadConfig([], { NNODES: '2', GROUP_SECRET: 'short' })).toThrow(
      /GROUP_SECRET must be at least 16 characters \(got 5\)/,
    )
    expect(loadConfig([], {}).groupSecret).toBe('')
  })

  it('listens for the rendezvous on RENDEZVOUS_HOST, else on --host', () => {
    expect(loadConfig(['--host', '127.0.0.1'], {}).rendezvousHost).toBe('127.0.0.1')
    expect(loadConfig([], { RENDEZVOUS_HOST: '10.244.1.7' }).rendezvousHost).toBe('10.244.1.7')
  })

  it('turns failure injection on only with its flag', () => {
    expect(loadConfig([], {}).enableFailureInjection).toBe(false)
    expect(loadConfig(['--enable-failure-injection', 'true', '--failure-rate', '0.5'], {}).failureRate).toBe(0.5)
    expect(() => loadConfig(['--failure-rate', '0.5'], {})).toThrow(/failureRate needs enableFailureInjection/)
    expect(() => loadConfig([], { ENABLE_FAILURE_INJECTION: 'yes' })).toThrow(
      /ENABLE_FAILURE_INJECTION must be true or false, got "yes"/,
    )
  })

  it('reads the group from torch-style variables and vLLM-style flags', () => {
    const env = {
      MASTER_ADDR: 'llama-0.llama',
      MASTER_PORT: '29501',
      NODE_RANK: '1',
      NNODES: '2',
      GPUS_PER_NODE: '4',
      WORLD_SIZE: '8',
      GROUP_SECRET: secret,
    }
    const config = loadConfig(['--tensor-parallel-size', '4', '--pipeline-parallel-size', '2'], env)
    expect(config).toMatchObject({
      masterAddr: 'llama-0.llama',
      masterPort: 29501,
      nodeRank: 1,
      nnodes: 2,
      gpusPerNode: 4,
      worldSize: 8,
    })
    const flags = ['--node-rank', '0', '--nnodes', '3', '--master-addr', 'leader', '--master-port', '1234']
    expect(loadConfig(flags, { ...env, WORLD_SIZE: '12' })).toMatchObject({
      nodeRank: 0,
      nnodes: 3,
      masterAddr: 'leader',
      masterPort: 1234,
    })
  })

  it("accepts LeaderWorkerSet's variables, and lets the explicit ones win", () => {
    const lws = {
      LWS_LEADER_ADDRESS: 'llama-0.llama.lab',
      LWS_GROUP_SIZE: '4',
      LWS_WORKER_INDEX: '3',
      GROUP_SECRET: secret,
    }
    expect(loadConfig([], lws)).toMatchObject({ masterAddr: 'llama-0.llama.lab', nnodes: 4, nodeRank: 3 })
    expect(loadConfig([], { ...lws, MASTER_ADDR: 'other', NNODES: '5', NODE_RANK: '4' })).toMatchObject({
      masterAddr: 'other',
      nnodes: 5,
      nodeRank: 4,
    })
  })

  it('says WORLD_SIZE counts processes, not pods', () => {
    expect(() => loadConfig([], { NNODES: '2', GPUS_PER_NODE: '4', WORLD_SIZE: '2' })).toThrow(
      'WORLD_SIZE counts processes (one per GPU): NNODES × GPUS_PER_NODE = 8, not 2',
    )
  })

  it('requires tensor × pipeline parallel size to equal the world size', () => {
    expect(() => loadConfig(['--tensor-parallel-size', '2'], { NNODES: '2', GPUS_PER_NODE: '4' })).toThrow(
      /--tensor-parallel-size × --pipeline-parallel-size must equal the world size NNODES × GPUS_PER_NODE = 8 \(got 2 × 1 = 2\)/,
    )
    expect(
      loadConfig(['--tensor-parallel-size', '8'], { NNODES: '2', GPUS_PER_NODE: '4', GROUP_SECRET: secret })
        .tensorParallelSize,
    ).toBe(8)
  })

  it('names NODE_RANK when it is not a number, such as a pod name', () => {
    expect(() => loadConfig([], { NODE_RANK: 'llama-1', NNODES: '2' })).toThrow(
      /^NODE_RANK must be an integer, got "llama-1" \(a pod's name is not its rank/,
    )
    expect(() => loadConfig([], { LWS_WORKER_INDEX: 'x' })).toThrow(/^LWS_WORKER_INDEX must be an integer/)
  })

  it('requires NODE_RANK within the group', () => {
    expect(() => loadConfig([], { NODE_RANK: '2', NNODES: '2' })).toThrow(
      'NODE_RANK must be an integer from 0 to NNODES - 1 = 1 (got 2)',
    )
    expect(() => loadConfig([], { NODE_RANK: '-1', NNODES: '2' })).toThrow(/NODE_RANK must be an integer from 0/)
  })

  it('explains a MASTER_PORT that Kubernetes set for a Service named master', () => {
    expect(() => loadConfig([], { MASTER_PORT: 'tcp://10.96.0.12:29500' })).toThrow(
      /Service named "master".*enableServiceLinks: false/,
    )
  })

  it('requires a heartbeat timeout longer than the interval', () => {
    expect(() => loadConfig(['--heartbeat-interval-ms', '1000', '--heartbeat-timeout-ms', '1000'], {})).toThrow(
      /--heartbeat-timeout-ms must be longer than --heartbeat-interval-ms/,
    )
  })
})
