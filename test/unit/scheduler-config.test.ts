import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../workloads/scheduler/config.ts'

const env = { POD_NAMESPACE: 'kube-system', POD_NAME: 'scheduler-0' }

describe('scheduler configuration', () => {
  it('takes the namespace and identity from the downward API variables, flags over them', () => {
    const config = loadConfig(['--scheduler-name', 'gpu-gang', '--node-selector', 'serving-lab.dev/pool=h100'], env)
    expect(config).toMatchObject({
      namespace: 'kube-system',
      identity: 'scheduler-0',
      schedulerName: 'gpu-gang',
      nodeSelector: 'serving-lab.dev/pool=h100',
    })
  })

  it("refuses kube-scheduler's name, a missing identity, and lease timings out of order, naming each field", () => {
    let error: unknown
    try {
      loadConfig(['--scheduler-name', 'default-scheduler', '--renew-deadline-ms', '20000'], { POD_NAMESPACE: 'x' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as Error).message
    expect(message).toContain('schedulerName must not be default-scheduler')
    expect(message).toContain('identity must not be empty')
    expect(message).toContain('leaseDurationMs must be greater than renewDeadlineMs')
  })
})
