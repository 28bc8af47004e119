// Every workload setting says what it does, and `--help` shows each one: its flag, its
// environment variables, its default and that description.
import { describe, expect, it } from 'vitest'
import * as coordinator from '../../workloads/coordinator/config.ts'
import * as gpuInventory from '../../workloads/gpu-inventory/config.ts'
import * as metricsAdapter from '../../workloads/metrics-adapter/config.ts'
import * as frontend from '../../workloads/frontend/config.ts'
import * as modelServer from '../../workloads/model-server/config.ts'
import * as router from '../../workloads/router/config.ts'
import * as scheduler from '../../workloads/scheduler/config.ts'
import { settingsHelp } from '../../workloads/shared/config.ts'

const workloads = [
  { name: 'model-server', ...modelServer },
  { name: 'router', ...router },
  { name: 'coordinator', ...coordinator },
  { name: 'scheduler', ...scheduler },
  { name: 'gpu-inventory', ...gpuInventory },
  { name: 'frontend', ...frontend },
  { name: 'metrics-adapter', ...metricsAdapter },
]

describe.each(workloads)('$name settings', ({ defaults, settings, usage }) => {
  it('cover every field of the defaults, once each', () => {
    expect(settings.map((s) => s.field).sort()).toEqual(Object.keys(defaults).sort())
  })

  it('each have a one-line description', () => {
    for (const setting of settings) {
      expect(setting.description.trim(), setting.field).not.toBe('')
      expect(setting.description, setting.field).not.toMatch(/\n/)
    }
  })

  it('each show in --help: flag, variables and default on one line, the description under it', () => {
    const lines = usage().split('\n')
    const defaultOf = new Map<string, unknown>(Object.entries(defaults))
    for (const setting of settings) {
      const name = setting.flag ? `--${setting.flag}` : setting.env
      const at = lines.findIndex((line) => line.startsWith(`  ${name} `))
      expect(at, name).toBeGreaterThan(0)
      for (const env of [setting.env, ...(setting.aliases ?? [])]) expect(lines[at], name).toContain(env)
      const value = defaultOf.get(setting.field)
      const shown = value === null ? 'none' : JSON.stringify(value)
      expect(lines[at], name).toContain(`default ${shown})`)
      expect(lines[at + 1], name).toBe(`      ${setting.description}`)
    }
  })
})

describe('settingsHelp', () => {
  it('writes defaults as JSON, and null as none', () => {
    const help = settingsHelp(modelServer.defaults, modelServer.settings)
    const byEnv = (env: string) => help.find((s) => s.env[0] === env)!
    expect(byEnv('MASTER_ADDR')).toMatchObject({
      flag: '--master-addr',
      env: ['MASTER_ADDR', 'LWS_LEADER_ADDRESS'],
      default: '"127.0.0.1"',
    })
    expect(byEnv('POD_INDEX')).toMatchObject({ flag: null, kind: 'integer', default: 'none' })
    expect(byEnv('FAILURE_TYPES').default).toBe('[]')
  })
})
