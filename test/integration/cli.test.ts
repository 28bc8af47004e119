// The lab's commands as a learner runs them: real processes, real exit codes.
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { connect } from '../../scripts/lib/kube.ts'
import { repoRoot } from '../../scripts/lib/project.ts'

const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx')

/** Runs a command of the lab as a child process (asynchronously, so the test worker stays responsive). */
function run(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A PATH with node and sh, and the given fake programs (a shell script each). */
function pathWith(programs: Record<string, string>): string {
  const bin = mkdtempSync(join(tmpdir(), 'serving-lab-path-'))
  symlinkSync(process.execPath, join(bin, 'node'))
  symlinkSync('/bin/sh', join(bin, 'sh'))
  for (const [name, script] of Object.entries(programs)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${script}\n`)
    chmodSync(join(bin, name), 0o755)
  }
  return bin
}
const dockerEngineDown =
  'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1'
const dockerEngineUp = 'echo 28.2.2'

describe('npm run step on a machine without Docker', () => {
  it('says how to install Docker, or to use kwok, and exits 2', async () => {
    const { code, stderr } = await run(['scripts/cli/step.ts', '01'], { ...process.env, PATH: pathWith({}) })
    expect(code).toBe(2)
    expect(stderr).toContain('Docker is not installed')
    expect(stderr).toContain('--provider kwok')
  })

  it('says the engine is not running when only the client is there, and exits 2', async () => {
    const { code, stderr } = await run(['scripts/cli/step.ts', '01'], {
      ...process.env,
      PATH: pathWith({ docker: dockerEngineDown }),
    })
    expect(code).toBe(2)
    expect(stderr).toContain('engine is not running')
    expect(stderr).toContain('--provider kwok')
  })

  it('says how to install kind when Docker runs but kind is missing, and exits 2', async () => {
    const { code, stderr } = await run(['scripts/cli/step.ts', '01'], {
      ...process.env,
      PATH: pathWith({ docker: dockerEngineUp }),
    })
    expect(code).toBe(2)
    expect(stderr).toContain('kind is not installed')
    expect(stderr).toContain('--provider kwok')
  })
})

describe('the step runner on the kwok cluster', () => {
  const context = inject('kubeContext')

  it('npm run step 01 --json: api checks pass, pods checks skipped, exit 0', async () => {
    const { code, stdout, stderr } = await run(['scripts/cli/step.ts', '01', '--context', context, '--json'])
    expect(code, stderr).toBe(0)
    const report = JSON.parse(stdout) as {
      total: { passed: number; failed: number; skipped: number }
      checks: { needs: string; status: string }[]
    }
    expect(report.total).toEqual({ passed: 6, failed: 0, skipped: 1 })
    expect(report.checks.filter((c) => c.needs === 'pods').map((c) => c.status)).toEqual(['skipped'])
    expect(stderr).toContain('applying steps/01-basic-statefulset')
  })

  it('the step’s test script runs alone and prints the summary line', async () => {
    const { code, stdout } = await run(['steps/01-basic-statefulset/test-01-statefulset.ts', '--context', context])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^step 01: 6 passed, 0 failed, 1 skipped$/m)
  })

  // Step 01 is applied now, so every other step's namespace is gone: what a learner sees after
  // running another step.
  it('--no-apply on a step that is not applied: one line with the command, exit 2, no check run', async () => {
    const { code, stdout, stderr } = await run(['scripts/cli/step.ts', '02', '--no-apply', '--context', context])
    expect(code, stderr).toBe(2)
    expect(stderr).toContain('step 02 is not applied: namespace lab-02 does not exist')
    expect(stderr).toContain('npm run step 02')
    // A check's line is indented; the one error line is not.
    expect(stdout + stderr).not.toMatch(/^\s+[✔✘○] |still waiting/m)
  })

  it('--no-apply on a step one of whose workloads was removed names what is missing', async () => {
    const kube = connect(context)
    await kube.apps.deleteNamespacedStatefulSet({ name: 'llama-3-70b', namespace: 'lab-01' })
    const { code, stderr } = await run(['scripts/cli/step.ts', '01', '--no-apply', '--context', context])
    expect(code, stderr).toBe(2)
    expect(stderr).toContain('step 01 is only partly applied: namespace lab-01 lacks StatefulSet/llama-3-70b')
    expect(stderr).toContain('npm run step 01')
  })

  // verify:all itself runs every step on kind in test:e2e; steps-on-kwok applies every step here.
  it.each([
    ['step', ['scripts/cli/step.ts', '01']],
    ['verify:all', ['scripts/cli/verify-all.ts']],
  ])('%s refuses a context that does not exist, with exit 2', async (_name, command) => {
    const { code, stderr } = await run([...command, '--context', 'kind-nowhere'])
    expect(code).toBe(2)
    expect(stderr).toContain("kube context 'kind-nowhere' does not exist")
  })

  it('refuses an unknown step, listing the steps', async () => {
    const { code, stderr } = await run(['scripts/cli/step.ts', '42', '--context', context])
    expect(code).toBe(2)
    expect(stderr).toContain('01-basic-statefulset')
  })
})

describe('cluster:up and cluster:down with the kwok provider', () => {
  const cluster = 'serving-lab-updown'
  const processesOf = () =>
    spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((line) => line.includes(`/clusters/${cluster}/`))

  it('starts the control plane, reports its status, and leaves no process behind', async () => {
    const up = await run(['scripts/cli/cluster.ts', 'up', '--provider', 'kwok', '--cluster', cluster])
    expect(up.code, up.stderr).toBe(0)
    const components = processesOf().join('\n')
    for (const component of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'])
      expect(components).toContain(component)
    const status = await run(['scripts/cli/cluster.ts', 'status', '--provider', 'kwok', '--cluster', cluster])
    expect(status.stdout).toContain('API server v1.34.12')
    const down = await run(['scripts/cli/cluster.ts', 'down', '--provider', 'kwok', '--cluster', cluster])
    expect(down.code, down.stderr).toBe(0)
    expect(processesOf()).toEqual([])
    expect(
      (await run(['scripts/cli/cluster.ts', 'status', '--provider', 'kwok', '--cluster', cluster])).stdout,
    ).toContain('does not exist')
  })
})
