import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pullUnlessPresent } from '../../docker.ts'
import type { EmitEvent } from '../../output.ts'
import { repoRoot } from '../../project.ts'
import { ensureNodejsImage } from '../../build/images.ts'
import { ensureKindNodeImage } from '../../build/kind-node-image.ts'
import { defaultCni } from '../../build/kube-router.ts'
import { KIND_NODE_IMAGE } from './config.ts'

/**
 * The node image a new cluster runs: kind's own `kindest/node` at the pinned digest when Docker
 * has it or can pull it, else one built here from the lab's parts (no registry needed). Says which.
 */
export async function chooseNodeImage(emit: EmitEvent): Promise<string> {
  const refused = await pullUnlessPresent(KIND_NODE_IMAGE, emit)
  if (refused === undefined) return KIND_NODE_IMAGE
  emit({
    kind: 'notice',
    level: 'info',
    message: `kindest/node could not be pulled (${refused}): using a node image built here from the lab's own parts`,
  })
  return ensureKindNodeImage(await defaultCni(emit), emit)
}

/** The Node.js image the workload Dockerfile builds on by default (its `ARG NODEJS_IMAGE=`). */
async function dockerfileNodeImage(): Promise<string> {
  const dockerfile = await readFile(join(repoRoot, 'workloads', 'Dockerfile'), 'utf8')
  const image = /^ARG NODEJS_IMAGE=(\S+)/m.exec(dockerfile)?.[1]
  if (!image) throw new Error('workloads/Dockerfile has no default NODEJS_IMAGE')
  return image
}

/**
 * The Node.js base for the workload image: undefined (the Dockerfile's own) when Docker has it or
 * can pull it, else one made here from this machine's Node.js.
 */
export async function workloadBaseImage(emit: EmitEvent): Promise<string | undefined> {
  const official = await dockerfileNodeImage()
  const refused = await pullUnlessPresent(official, emit)
  if (refused === undefined) return undefined
  emit({
    kind: 'notice',
    level: 'info',
    message: `${official} could not be pulled (${refused}): the workload image builds on a Node.js image made from this machine's Node.js ${process.version}`,
  })
  return ensureNodejsImage(emit)
}
