import { CommandError, EnvironmentError } from './errors.ts'
import { exec } from './exec.ts'
import type { EmitEvent } from './output.ts'

const withoutDocker = 'or create the cluster with `--provider kwok`, which simulates the nodes and needs no Docker'

/** Throws an EnvironmentError saying how to get Docker, or to use kwok, unless its engine answers. */
export async function requireDockerEngine(): Promise<void> {
  try {
    await exec('docker', ['version', '--format', '{{.Server.Version}}'])
  } catch (error) {
    if (error instanceof EnvironmentError) {
      throw new EnvironmentError(
        `Docker is not installed: install it (https://docs.docker.com/get-docker/), ${withoutDocker}.`,
      )
    }
    if (error instanceof CommandError) {
      const reason = error.output.split('\n').find((line) => /cannot connect|error/i.test(line)) ?? error.output.trim()
      throw new EnvironmentError(
        `Docker is installed but its engine is not running (${reason.trim()}). Start it (Docker Desktop, or ` +
          `\`sudo systemctl start docker\` on Linux), ${withoutDocker}.`,
      )
    }
    throw error
  }
}

/** Whether the Docker engine has an image by this reference. */
export async function imageExists(reference: string): Promise<boolean> {
  try {
    await exec('docker', ['image', 'inspect', '--format', '{{.Id}}', reference])
    return true
  } catch (error) {
    if (error instanceof CommandError) return false
    throw error
  }
}

/** The id of an image the Docker engine has. */
export async function imageId(reference: string): Promise<string> {
  return (await exec('docker', ['image', 'inspect', '--format', '{{.Id}}', reference])).trim()
}

/**
 * Makes sure Docker has an image, pulling it if needed: undefined when it has it, else the last
 * line of the failed pull (no registry reachable, no such image), for the caller to say.
 */
export async function pullUnlessPresent(reference: string, emit: EmitEvent): Promise<string | undefined> {
  if (await imageExists(reference)) return undefined
  try {
    emit({ kind: 'progress', message: `pulling ${reference}` })
    await exec('docker', ['pull', reference])
    return undefined
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    return error.output.trim().split('\n').at(-1) ?? ''
  }
}
