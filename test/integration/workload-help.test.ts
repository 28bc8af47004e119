// The workloads' --help as real processes: the usage on stdout and exit 0; a bad flag still
// exits 2 with its message and the usage on stderr. Needs no cluster.
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../../scripts/lib/project.ts'
import * as modelServer from '../../workloads/model-server/config.ts'
import * as frontend from '../../workloads/frontend/config.ts'
import * as router from '../../workloads/router/config.ts'

/** A workload from source, run through tsx's loader until it exits. */
function run(workload: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', `workloads/${workload}/main.ts`, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
  })
}

describe('workload --help', () => {
  it('model-server --help prints every setting to stdout and exits 0', () => {
    const result = run('model-server', ['--help'])
    expect(result.status).toBe(0)
    expect(result.stderr).toBe('')
    expect(result.stdout).toMatch(/^usage: model-server \[flags\]\n/)
    for (const setting of modelServer.settings) {
      if (setting.flag) expect(result.stdout).toContain(`--${setting.flag} `)
      expect(result.stdout).toContain(setting.env)
      expect(result.stdout).toContain(setting.description)
    }
  })

  it('router -h prints the usage without needing --backends or --service', () => {
    const result = run('router', ['-h'])
    expect(result.status).toBe(0)
    expect(result.stdout.trimEnd()).toBe(router.usage())
  })

  it('frontend -h prints the usage without needing --backends or --service', () => {
    const result = run('frontend', ['-h'])
    expect(result.status).toBe(0)
    expect(result.stdout.trimEnd()).toBe(frontend.usage())
  })

  it('exits 2 on an unknown flag, with the message and the usage on stderr', () => {
    const result = run('model-server', ['--no-such-flag'])
    expect(result.status).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain("Unknown option '--no-such-flag'")
    expect(result.stderr).toContain(modelServer.usage())
  })
})
