// The lab's commands as a learner runs them: real processes, real exit codes.
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { repoRoot } from '../../scripts/lib/project.ts'

const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx')

function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(tsx, args, { cwd: repoRoot, env, encoding: 'utf8', timeout: 300_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** A PATH with node (and tsx's needs) but no docker; optionally a docker whose engine is down. */
function pathWithoutDockerEngine(fakeDocker: boolean): string {
  const bin = mkdtempSync(join(tmpdir(), 'serving-lab-path-'))
  symlinkSync(process.execPath, join(bin, 'node'))
  symlinkSync('/bin/sh', join(bin, 'sh'))
  if (fakeDocker) {
    writeFileSync(join(bin, 'docker'), '#!/bin/sh\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2\nexit 1\n')
    chmodSync(join(bin, 'docker'), 0o755)
  }
  return bin
}

describe('npm run step on a machine without Docker', () => {
  it('says how to install Docker, or to use kwok, and exits 2', () => {
    const { code, stderr } = run(['scripts/cli/step.ts', '01'], { ...process.env, PATH: pathWithoutDockerEngine(false) })
    expect(code).toBe(2)
    expect(stderr).toContain('Docker is not installed')
    expect(stderr).toContain('--provider kwok')
  })

  it('says the engine is not running when only the client is there, and exits 2', () => {
    const { code, stderr } = run(['scripts/cli/step.ts', '01'], { ...process.env, PATH: pathWithoutDockerEngine(true) })
    expect(code).toBe(2)
    expect(stderr).toContain('engine is not running')
    expect(stderr).toContain('--provider kwok')
  })
})

describe('the step runner on the kwok cluster', () => {
  const context = inject('kubeContext')

  it('npm run step 01 --json: api checks pass, pods checks skipped, exit 0', () => {
    const { code, stdout, stderr } = run(['scripts/cli/step.ts', '01', '--context', context, '--json'])
    expect(code, stderr).toBe(0)
    const report = JSON.parse(stdout) as { total: { passed: number; failed: number; skipped: number }; checks: { needs: string; status: string }[] }
    expect(report.total).toEqual({ passed: 6, failed: 0, skipped: 1 })
    expect(report.checks.filter((c) => c.needs === 'pods').map((c) => c.status)).toEqual(['skipped'])
    expect(stderr).toContain('applying steps/01-basic-statefulset')
  })

  it('the step’s test script runs alone and prints the summary line', () => {
    const { code, stdout } = run(['steps/01-basic-statefulset/test-01-statefulset.ts', '--context', context])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^step 01: 6 passed, 0 failed, 1 skipped$/m)
  })

  it('refuses a context that does not exist, with exit 2', () => {
    const { code, stderr } = run(['scripts/cli/step.ts', '01', '--context', 'kind-nowhere'])
    expect(code).toBe(2)
    expect(stderr).toContain("kube context 'kind-nowhere' does not exist")
  })

  it('refuses an unknown step, listing the steps', () => {
    const { code, stderr } = run(['scripts/cli/step.ts', '42', '--context', context])
    expect(code).toBe(2)
    expect(stderr).toContain('01-basic-statefulset')
  })
})

describe('cluster:up and cluster:down with the kwok provider', () => {
  const cluster = 'serving-lab-updown'
  const processesOf = () => spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes(`/clusters/${cluster}/`))

  it('starts the control plane, reports its status, and leaves no process behind', () => {
    const up = run(['scripts/cli/cluster.ts', 'up', '--provider', 'kwok', '--cluster', cluster])
    expect(up.code, up.stderr).toBe(0)
    const components = processesOf().join('\n')
    for (const component of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']) expect(components).toContain(component)
    const status = run(['scripts/cli/cluster.ts', 'status', '--provider', 'kwok', '--cluster', cluster])
    expect(status.stdout).toContain('API server v1.34.12')
    const down = run(['scripts/cli/cluster.ts', 'down', '--provider', 'kwok', '--cluster', cluster])
    expect(down.code, down.stderr).toBe(0)
    expect(processesOf()).toEqual([])
    expect(run(['scripts/cli/cluster.ts', 'status', '--provider', 'kwok', '--cluster', cluster]).stdout).toContain('does not exist')
  })
})

