import { describe, expect, it } from 'vitest'
import { ConfigError, frontendPolicyNames, loadConfig } from '../../workloads/frontend/config.ts'
import { defaults as routerDefaults } from '../../workloads/router/config.ts'

const backends = ['--backends', 'http://127.0.0.1:8001,http://127.0.0.1:8002']
const refused = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  try {
    loadConfig(argv, env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  return null
}

describe('frontend configuration', () => {
  it("has the documented defaults, and the router's for the settings it shares", () => {
    const config = loadConfig(backends, {})
    expect(config).toMatchObject({
      port: 8080,
      policy: 'kv',
      priorityClasses: 4,
      maxQueuedPerClass: 1000,
      defaultDeadlineMs: 60_000,
      queueThreshold: 1,
      defaultMaxNumSeqs: 256,
      metricsIntervalMs: 50,
      batchWindowMs: 2,
      kvOverlapScoreWeight: 1,
      routerTemperature: 0,
      blockSize: 16,
      healthPath: routerDefaults.healthPath,
      consecutiveErrors: routerDefaults.consecutiveErrors,
    })
  })

  it("takes kv or any of the router's policies", () => {
    expect(frontendPolicyNames).toEqual(['kv', 'round-robin', 'least-outstanding', 'session-affinity', 'prefix-aware'])
    for (const policy of frontendPolicyNames)
      expect(loadConfig([...backends, '--policy', policy], {}).policy).toBe(policy)
    expect(refused([...backends, '--policy', 'random'])).toContain('policy must be one of kv, round-robin')
  })

  it('takes the environment, then flags over it', () => {
    const config = loadConfig([...backends, '--batch-window-ms', '0'], { BATCH_WINDOW_MS: '7', QUEUE_THRESHOLD: '1.5' })
    expect([config.batchWindowMs, config.queueThreshold]).toEqual([0, 1.5])
  })

  it('names each broken rule', () => {
    expect(refused([])).toContain('backends or service is required')
    expect(refused([...backends, '--priority-classes', '0'])).toContain(
      'priorityClasses must be an integer from 1 to 100',
    )
    expect(refused([...backends, '--default-deadline-ms', '9000', '--max-deadline-ms', '8000'])).toContain(
      'defaultDeadlineMs must not exceed maxDeadlineMs',
    )
    expect(refused([...backends, '--metrics-staleness-ms', '50'])).toContain(
      'metricsStalenessMs must exceed metricsIntervalMs',
    )
    expect(refused([...backends, '--queue-threshold', '0'])).toContain('queueThreshold must be a number from 0.01')
    expect(refused([...backends, '--router-temperature=-1'])).toContain('routerTemperature must be a number from 0')
  })
})
