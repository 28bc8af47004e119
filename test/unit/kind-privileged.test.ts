import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { exec } from '../../scripts/lib/exec.ts'
import { refusesPrivileged } from '../../scripts/lib/cluster/kind/privileged.ts'

const shim = join(import.meta.dirname, '../../scripts/lib/cluster/kind/docker-without-privileged.sh')

/** Runs the shim with a stand-in for the real docker that prints the arguments it was given, one a line. */
async function throughShim(args: string[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'serving-lab-shim-'))
  const echo = join(dir, 'docker')
  await writeFile(echo, '#!/bin/sh\nfor arg in "$@"; do echo "$arg"; done\n')
  await chmod(echo, 0o755)
  const out = await exec('bash', [shim, ...args], { env: { ...process.env, SERVING_LAB_REAL_DOCKER: echo } })
  return out.trimEnd().split('\n')
}

describe('docker without --privileged', () => {
  it('turns --privileged in run into every capability but SYS_RESOURCE, every device and /dev/kmsg', async () => {
    const args = await throughShim(['run', '--name', 'n', '--privileged', '--tmpfs', '/tmp', 'image'])
    expect(args).not.toContain('--privileged')
    expect(args).toEqual([
      'run',
      '--name',
      'n',
      '--cap-add=ALL',
      '--cap-drop=SYS_RESOURCE',
      '--security-opt',
      'systempaths=unconfined',
      '--device-cgroup-rule=a *:* rwm',
      '--device',
      '/dev/kmsg',
      '--tmpfs',
      '/tmp',
      'image',
    ])
  })

  it('runs exec --privileged as a plain exec and passes other commands through', async () => {
    expect(await throughShim(['exec', '--privileged', 'node', 'ctr', 'version'])).toEqual([
      'exec',
      'node',
      'ctr',
      'version',
    ])
    expect(await throughShim(['ps', '--privileged'])).toEqual(['ps', '--privileged'])
  })

  it("recognises Docker's refusal", () => {
    expect(
      refusesPrivileged(
        'docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown.',
      ),
    ).toBe(true)
    expect(refusesPrivileged('docker: Error response from daemon: No such image: kindest/node.')).toBe(false)
  })
})
