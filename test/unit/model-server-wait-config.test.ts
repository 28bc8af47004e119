// `--wait-for-rendezvous`: the init container's settings, which need nothing a normal start needs.
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../workloads/model-server/config.ts'
import { loadWaitConfig } from '../../workloads/model-server/wait-for-rendezvous.ts'

describe('loadWaitConfig', () => {
  it('is null when the mode is not asked for', () => {
    expect(loadWaitConfig([], {})).toBeNull()
    expect(loadWaitConfig(['--wait-for-rendezvous', 'false'], {})).toBeNull()
  })

  it('takes the flag alone, with a value, or from the environment', () => {
    const env = { MASTER_ADDR: 'llama-0.llama', MASTER_PORT: '29500', NODE_RANK: '1' }
    const expected = { masterAddr: 'llama-0.llama', masterPort: 29500, nodeRank: 1, waitTimeoutMs: 300_000 }
    expect(loadWaitConfig(['--wait-for-rendezvous'], env)).toMatchObject(expected)
    expect(loadWaitConfig(['--wait-for-rendezvous', '--wait-timeout-ms', '500'], env)).toMatchObject({
      ...expected,
      waitTimeoutMs: 500,
    })
    expect(loadWaitConfig(['--wait-for-rendezvous', 'true'], env)).toMatchObject(expected)
    expect(loadWaitConfig([], { ...env, WAIT_FOR_RENDEZVOUS: 'true' })).toMatchObject(expected)
  })

  it('needs no group secret, and reads LeaderWorkerSet’s names', () => {
    const env = { LWS_LEADER_ADDRESS: 'lws-0.lws', LWS_WORKER_INDEX: '2', LWS_GROUP_SIZE: '4' }
    expect(loadWaitConfig(['--wait-for-rendezvous'], env)).toMatchObject({ masterAddr: 'lws-0.lws', nodeRank: 2 })
  })

  it('refuses a bad address, port or timeout', () => {
    expect(() => loadWaitConfig(['--wait-for-rendezvous'], { MASTER_PORT: '0' })).toThrow(ConfigError)
    expect(() => loadWaitConfig(['--wait-for-rendezvous', '--wait-timeout-ms', '0'], {})).toThrow(/waitTimeoutMs/)
    expect(() => loadWaitConfig(['--wait-for-rendezvous'], { MASTER_PORT: 'tcp://10.0.0.1:29500' })).toThrow(/Service/)
  })
})
