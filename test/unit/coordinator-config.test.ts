import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../workloads/coordinator/config.ts'

const required = ['--namespace', 'lab', '--identity', 'coordinator-0']

describe('coordinator configuration', () => {
  it('needs only a namespace and an identity, from flags or the downward API', () => {
    expect(loadConfig(required, {})).toMatchObject({
      namespace: 'lab',
      identity: 'coordinator-0',
      desiredConfigMap: 'serving-config',
      acceptedConfigMap: 'serving-config-accepted',
      leaseName: 'coordinator',
    })
    expect(loadConfig([], { POD_NAMESPACE: 'lab', POD_NAME: 'coordinator-1' }).identity).toBe('coordinator-1')
  })

  it.each([
    [[], 'namespace must not be empty'],
    [
      ['--lease-duration-ms', '2000', '--renew-deadline-ms', '3000'],
      'leaseDurationMs must be greater than renewDeadlineMs',
    ],
    [['--accepted-configmap', 'serving-config'], 'acceptedConfigMap must differ from desiredConfigMap'],
    [['--probe-timeout-ms', '5000'], 'probeTimeoutMs must not exceed probeIntervalMs'],
  ])('refuses %j, naming the field', (flags, message) => {
    const argv = flags.length === 0 ? [] : [...required, ...flags]
    expect(() => loadConfig(argv, {})).toThrow(ConfigError)
    expect(() => loadConfig(argv, {})).toThrow(message)
  })
})
