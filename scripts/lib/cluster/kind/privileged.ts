import { createHash } from 'node:crypto'
import { chmod, mkdir, symlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CommandError } from '../../errors.ts'
import { exec } from '../../exec.ts'
import type { EmitEvent } from '../../output.ts'
import { settings } from '../../settings.ts'

const script = join(dirname(fileURLToPath(import.meta.url)), 'docker-without-privileged.sh')

/** Docker refuses `--privileged` where the host's capability bounding set lacks a capability it grants. */
export function refusesPrivileged(output: string): boolean {
  return /unable to apply caps|operation not permitted/i.test(output)
}

let probed: Promise<NodeJS.ProcessEnv | undefined> | undefined

/**
 * The environment kind must run with on this host: undefined where `docker run --privileged`
 * works (an ordinary laptop), else a PATH whose `docker` is docker-without-privileged.sh. The
 * probe runs once per process, with the node image about to be used.
 */
export function kindEnvironment(image: string, emit: EmitEvent): Promise<NodeJS.ProcessEnv | undefined> {
  probed ??= probe(image, emit)
  return probed
}

async function probe(image: string, emit: EmitEvent): Promise<NodeJS.ProcessEnv | undefined> {
  try {
    await exec('docker', ['run', '--rm', '--privileged', '--entrypoint', 'true', image])
    return undefined
  } catch (error) {
    if (!(error instanceof CommandError) || !refusesPrivileged(error.output)) throw error
  }
  const docker = (await exec('sh', ['-c', 'command -v docker'])).trim()
  // One folder per checkout, so two checkouts (or two runs at once) never swap each other's link.
  const shimDir = join(settings.cacheDir, 'kind-docker', createHash('sha256').update(script).digest('hex').slice(0, 12))
  await mkdir(shimDir, { recursive: true })
  await chmod(script, 0o755)
  await symlink(script, join(shimDir, 'docker')).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
  emit({
    kind: 'notice',
    level: 'info',
    message:
      'this host refuses `docker run --privileged` (its capability bounding set is short of one): kind runs its nodes with every other capability and device instead (scripts/lib/cluster/kind/docker-without-privileged.sh)',
  })
  return { ...process.env, PATH: `${shimDir}:${process.env.PATH ?? ''}`, SERVING_LAB_REAL_DOCKER: docker }
}
