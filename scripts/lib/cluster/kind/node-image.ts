import { imageExists } from '../../docker.ts'
import { CommandError } from '../../errors.ts'
import { exec } from '../../exec.ts'
import type { EmitEvent } from '../../output.ts'
import { ensureKindNodeImage } from '../../build/kind-node-image.ts'
import { defaultCni } from '../../build/kube-router.ts'
import { KIND_NODE_IMAGE } from './config.ts'

/**
 * The node image a new cluster runs: kind's own `kindest/node` at the pinned digest when Docker
 * has it or can pull it, else one built here from the lab's parts (no registry needed). Says which.
 */
export async function chooseNodeImage(emit: EmitEvent): Promise<string> {
  if (await imageExists(KIND_NODE_IMAGE)) return KIND_NODE_IMAGE
  try {
    emit({ kind: 'progress', message: `pulling ${KIND_NODE_IMAGE}` })
    await exec('docker', ['pull', KIND_NODE_IMAGE])
    return KIND_NODE_IMAGE
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    const reason = error.output.trim().split('\n').at(-1) ?? ''
    emit({ kind: 'notice', level: 'info', message: `kindest/node could not be pulled (${reason}): using a node image built here from the lab's own parts` })
  }
  return ensureKindNodeImage(await defaultCni(emit), emit)
}
