// Applying accepted versions of the serving configuration: each workload takes its own keys,
// checks them with its own rules, keeps the value running when one breaks them, and remembers
// the generation it runs.
import { describe, expect, it } from 'vitest'
import * as modelServer from '../../workloads/model-server/config.ts'
import * as router from '../../workloads/router/config.ts'
import { versionOf } from '../../workloads/shared/accepted-config.ts'
import { LiveConfig } from '../../workloads/shared/live-config.ts'

function modelServerLive() {
  const config = modelServer.loadConfig([], {})
  const live = new LiveConfig({
    config,
    keys: modelServer.liveKeys,
    settings: modelServer.settings,
    validate: modelServer.validateConfig,
  })
  return { config, live }
}

function routerLive() {
  const config = router.loadConfig(['--backends', 'http://127.0.0.1:8001'], {})
  const live = new LiveConfig({
    config,
    keys: router.liveKeys,
    settings: router.settings,
    validate: router.validateConfig,
  })
  return { config, live }
}

const version = (generation: number, data: Record<string, string>) => ({ generation, fencingToken: 3, data })

describe('LiveConfig', () => {
  it('reports generation 0 and nothing applied before any version', () => {
    expect(modelServerLive().live.report).toEqual({ generation: 0, fencingToken: 0, applied: {}, rejected: {} })
  })

  it("applies the model server's keys in place, converted, and ignores the router's", () => {
    const { config, live } = modelServerLive()
    const result = live.apply(
      version(1, {
        'max-num-seqs': '4',
        'load-slowdown': ' 1.5 ',
        'inter-token-latency-ms': '25',
        policy: 'round-robin',
      }),
    )
    expect(result?.changed.sort()).toEqual(['interTokenLatencyMs', 'loadSlowdown', 'maxNumSeqs'])
    expect([config.maxNumSeqs, config.loadSlowdown, config.interTokenLatencyMs]).toEqual([4, 1.5, 25])
    expect(live.report).toEqual({
      generation: 1,
      fencingToken: 3,
      applied: { 'inter-token-latency-ms': 25, 'load-slowdown': 1.5, 'max-num-seqs': 4 },
      rejected: {},
    })
  })

  it('keeps the value running for a key its rules refuse, naming the key', () => {
    const { config, live } = modelServerLive()
    live.apply(version(1, { 'max-num-seqs': '4' }))
    const result = live.apply(version(2, { 'max-num-seqs': '0', 'max-waiting-requests': 'many', 'load-slowdown': '2' }))
    expect(config.maxNumSeqs).toBe(4)
    expect(config.maxWaitingRequests).toBe(modelServer.defaults.maxWaitingRequests)
    expect(config.loadSlowdown).toBe(2)
    expect(result?.report.generation).toBe(2)
    expect(result?.report.applied).toEqual({ 'load-slowdown': 2, 'max-num-seqs': 4, 'max-waiting-requests': 1024 })
    expect(result?.report.rejected['max-num-seqs']).toBe('max-num-seqs must be an integer at least 1 (got 0)')
    expect(result?.report.rejected['max-waiting-requests']).toBe('max-waiting-requests must be an integer, got "many"')
  })

  it('returns a key left out of a later version to the value the process started with', () => {
    const config = modelServer.loadConfig(['--max-num-seqs', '8'], {})
    const live = new LiveConfig({
      config,
      keys: modelServer.liveKeys,
      settings: modelServer.settings,
      validate: modelServer.validateConfig,
    })
    live.apply(version(1, { 'max-num-seqs': '2' }))
    expect(config.maxNumSeqs).toBe(2)
    expect(live.apply(version(2, {}))?.changed).toEqual(['maxNumSeqs'])
    expect(config.maxNumSeqs).toBe(8)
    expect(live.report.applied).toEqual({})
  })

  it('does nothing for the version it runs, but takes a new generation with the same data', () => {
    const { live } = modelServerLive()
    expect(live.apply(version(1, { 'max-num-seqs': '4' }))).not.toBeNull()
    expect(live.apply(version(1, { 'max-num-seqs': '4' }))).toBeNull()
    expect(live.apply(version(2, { 'max-num-seqs': '4' }))?.changed).toEqual([])
    expect(live.report.generation).toBe(2)
  })

  it("applies the router's policy, retries, budget and timeout with the router's rules", () => {
    const { config, live } = routerLive()
    live.apply(
      version(5, {
        policy: 'session-affinity',
        'max-retries': '11',
        'retry-budget-percent': '50',
        'request-timeout-ms': '1500',
        'max-num-seqs': '4',
      }),
    )
    expect([config.policy, config.maxRetries, config.retryBudgetPercent, config.requestTimeoutMs]).toEqual([
      'session-affinity',
      router.defaults.maxRetries,
      50,
      1500,
    ])
    expect(live.report.rejected).toEqual({ 'max-retries': 'max-retries must be an integer from 0 to 10 (got 11)' })
    expect(Object.keys(live.report.applied)).toEqual([
      'max-retries',
      'policy',
      'request-timeout-ms',
      'retry-budget-percent',
    ])
  })

  it('refuses an unknown policy', () => {
    const { config, live } = routerLive()
    live.apply(version(1, { policy: 'random' }))
    expect(config.policy).toBe(router.defaults.policy)
    expect(live.report.rejected.policy).toMatch(/^policy must be one of round-robin, /)
  })
})

describe('versionOf', () => {
  const map = (annotations: Record<string, string>, data?: Record<string, string>) => ({
    metadata: { name: 'serving-config-accepted', annotations },
    data,
  })

  it('reads the generation, the fencing token and the data', () => {
    expect(
      versionOf(
        map({ 'serving-lab.io/generation': '7', 'serving-lab.io/fencing-token': '2' }, { policy: 'round-robin' }),
      ),
    ).toEqual({ generation: 7, fencingToken: 2, data: { policy: 'round-robin' } })
  })

  it('has no version without a generation, as the empty ConfigMap the manifests create', () => {
    expect(versionOf(map({}))).toBeNull()
    expect(versionOf(map({ 'serving-lab.io/generation': 'x' }, { policy: 'round-robin' }))).toBeNull()
  })
})
