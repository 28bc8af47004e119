import { EnvironmentError } from '../../errors.ts'
import { exec, hasProgram, type ExecOptions } from '../../exec.ts'
import type { EmitEvent } from '../../output.ts'
import { ensureKindCli } from '../../build/binaries.ts'
import { KIND_VERSION } from './config.ts'
import { kindEnvironment } from './privileged.ts'

let resolved: Promise<string> | undefined

/** kind on PATH (a different version only earns a warning), else the pinned version built from its Go module. */
export function kindCli(emit: EmitEvent): Promise<string> {
  resolved ??= (async () => {
    if (await hasProgram('kind')) {
      const version = await exec('kind', ['version'])
      if (!version.includes(KIND_VERSION))
        emit({
          kind: 'notice',
          level: 'warn',
          message: `kind on PATH is ${version.trim()}; the lab is tested with ${KIND_VERSION}`,
        })
      return 'kind'
    }
    if (!(await hasProgram('go'))) {
      throw new EnvironmentError(
        `kind is not installed: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation, or \`go install sigs.k8s.io/kind@${KIND_VERSION}\`), ` +
          'or create the cluster with `--provider kwok`, which simulates the nodes and needs no Docker.',
      )
    }
    return ensureKindCli(KIND_VERSION, emit)
  })()
  return resolved
}

/** Runs kind; `image` is a node image for the `--privileged` probe, where the command starts or enters nodes. */
export async function runKind(
  args: readonly string[],
  emit: EmitEvent,
  options: ExecOptions & { image?: string } = {},
): Promise<string> {
  const { image, ...execOptions } = options
  const env = image ? await kindEnvironment(image, emit) : undefined
  return exec(await kindCli(emit), args, { ...execOptions, ...(env ? { env } : {}) })
}
