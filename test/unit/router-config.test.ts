import { describe, expect, it } from 'vitest'
import { ConfigError, defaults, loadConfig, usage } from '../../workloads/router/config.ts'

const backends = ['--backends', 'http://127.0.0.1:8001,http://127.0.0.1:8002']

describe('router configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig(backends, {})
    expect(config).toMatchObject({
      port: 8080,
      targetPort: 'http',
      policy: 'least-outstanding',
      affinityHeader: 'x-session-id',
      healthPath: '/ready',
      healthIntervalMs: 2000,
      healthTimeoutMs: 1000,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
      consecutiveErrors: 3,
      baseEjectionMs: 5000,
      requestTimeoutMs: 60_000,
      maxRetries: 1,
      retryBudgetPercent: 20,
    })
    expect(config.backends).toEqual(['http://127.0.0.1:8001', 'http://127.0.0.1:8002'])
    expect(defaults.drainTimeoutMs).toBeGreaterThan(0)
  })

  it('takes the environment, then flags over it; the namespace from POD_NAMESPACE', () => {
    const config = loadConfig(['--service', 'llama', '--policy', 'prefix-aware'], {
      SERVICE: 'other',
      POLICY: 'round-robin',
      POD_NAMESPACE: 'step-04',
      TARGET_PORT_NAME: '8000',
    })
    expect([config.service, config.policy, config.namespace, config.targetPort]).toEqual([
      'llama',
      'prefix-aware',
      'step-04',
      '8000',
    ])
  })

  it('lowercases the affinity header, as Node hands headers over', () => {
    expect(loadConfig([...backends, '--affinity-header', 'X-Conversation'], {}).affinityHeader).toBe('x-conversation')
  })

  const refuses = (argv: string[], env: Record<string, string>, message: RegExp) => {
    expect(() => loadConfig(argv, env)).toThrow(ConfigError)
    expect(() => loadConfig(argv, env)).toThrow(message)
  }

  it('needs backends or a service, not both, and a namespace with a service', () => {
    refuses([], {}, /backends or service is required/)
    refuses([...backends, '--service', 'x', '--namespace', 'n'], {}, /backends and service are exclusive/)
    refuses(['--service', 'x'], {}, /namespace is required with service/)
  })

  it('names the field and the rule for each bad value', () => {
    refuses(
      ['--backends', '127.0.0.1:8001'],
      {},
      /backends: backend 127.0.0.1:8001: not a URL; write it as http:\/\/host:port/,
    )
    refuses(['--backends', 'https://a:1'], {}, /backends: .*only http/)
    refuses(['--backends', 'http://127.0.0.1'], {}, /backends: .*name the port/)
    refuses(
      [...backends, '--policy', 'random'],
      {},
      /policy must be one of round-robin, least-outstanding, session-affinity, prefix-aware \(got random\)/,
    )
    refuses([...backends, '--health-timeout-ms', '3000'], {}, /healthTimeoutMs must not exceed healthIntervalMs/)
    refuses([...backends, '--retry-budget-percent', '120'], {}, /retryBudgetPercent must be a number from 0 to 100/)
    refuses([...backends, '--consecutive-errors', '0'], {}, /consecutiveErrors must be an integer at least 1/)
    refuses([...backends, '--health-path', 'ready'], {}, /healthPath must start with \//)
    refuses(['--service', 'x', '--namespace', 'n', '--target-port', '70000'], {}, /targetPort must be from 1 to 65535/)
    refuses(backends, { MAX_RETRIES: 'two' }, /^MAX_RETRIES must be an integer, got "two"$/)
    refuses([...backends, '--bogus', '1'], {}, /Unknown option '--bogus'/)
  })

  it('lists every flag with its variable and default', () => {
    expect(usage()).toContain('--backends <list> (env BACKENDS, default [])')
    expect(usage()).toContain('--policy <string> (env POLICY, default "least-outstanding")')
  })
})
