import { copyFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { imageExists } from '../docker.ts'
import { EnvironmentError } from '../errors.ts'
import { exec, hasProgram } from '../exec.ts'
import type { EmitEvent } from '../output.ts'
import { repoRoot } from '../project.ts'

/**
 * Images every locally built one starts from, for machines that reach no registry: a Debian root
 * filesystem made by debootstrap, the pause image, and a Node.js base for the workload image.
 */
export const REGISTRY = 'serving-lab.local'
export const BASE_IMAGE = `${REGISTRY}/debian:bookworm`
export const PAUSE_IMAGE = `${REGISTRY}/pause:3.10`
export const NODEJS_IMAGE = `${REGISTRY}/nodejs:${process.versions.node}-bookworm`
const DEBIAN_MIRROR = 'http://deb.debian.org/debian'

export interface BuildOptions {
  /** The Dockerfile's text, when it is not one of the files. */
  dockerfile?: string
  buildArgs?: Record<string, string>
}

/**
 * `docker build` of a context folder made for the purpose from the given files (path in the
 * context → source path). RUN steps reach Debian's mirror the way this machine does.
 */
export async function buildImage(
  tag: string,
  files: Record<string, string>,
  { dockerfile, buildArgs = {} }: BuildOptions = {},
): Promise<void> {
  const context = await mkdtemp(join(tmpdir(), 'serving-lab-image-'))
  try {
    for (const [to, from] of Object.entries(files))
      await cp(from, join(context, to), { recursive: true, dereference: true })
    if (dockerfile) await writeFile(join(context, 'Dockerfile'), dockerfile)
    const args = Object.entries(buildArgs).flatMap(([key, value]) => ['--build-arg', `${key}=${value}`])
    await exec('docker', ['build', '-q', '--network', 'host', ...args, '-t', tag, context])
  } finally {
    await rm(context, { recursive: true, force: true })
  }
}

/** Debian bookworm (minbase) from the Debian mirror, imported as an image: the root of every other image here. */
export async function ensureBaseImage(emit: EmitEvent): Promise<string> {
  if (await imageExists(BASE_IMAGE)) return BASE_IMAGE
  if (!(await hasProgram('debootstrap')))
    throw new EnvironmentError(
      "the lab builds its Debian image with debootstrap where no registry answers: 'apt-get install debootstrap' (as root)",
    )
  emit({ kind: 'progress', message: `debootstrap of Debian bookworm for ${BASE_IMAGE} (about a minute)` })
  const root = await mkdtemp(join(tmpdir(), 'serving-lab-rootfs-'))
  try {
    await exec('debootstrap', ['--variant=minbase', 'bookworm', root, DEBIAN_MIRROR])
    await rm(join(root, 'var/cache/apt/archives'), { recursive: true, force: true })
    await exec('sh', ['-c', `tar -C "${root}" -c . | docker import --change 'CMD ["/bin/bash"]' - ${BASE_IMAGE}`])
  } finally {
    await rm(root, { recursive: true, force: true })
  }
  return BASE_IMAGE
}

/** The pod sandbox: a static program that sleeps until it is told to stop (images/pause/pause.c). */
export async function ensurePauseImage(emit: EmitEvent): Promise<string> {
  if (await imageExists(PAUSE_IMAGE)) return PAUSE_IMAGE
  if (!(await hasProgram('gcc')))
    throw new EnvironmentError(
      "the pause image is compiled from images/pause/pause.c with gcc: 'apt-get install gcc libc6-dev'",
    )
  emit({ kind: 'progress', message: `compiling ${PAUSE_IMAGE}` })
  const dir = await mkdtemp(join(tmpdir(), 'serving-lab-pause-'))
  try {
    await exec('gcc', ['-Os', '-static', '-s', '-o', join(dir, 'pause'), join(repoRoot, 'images', 'pause', 'pause.c')])
    await buildImage(
      PAUSE_IMAGE,
      { pause: join(dir, 'pause') },
      { dockerfile: 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' },
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return PAUSE_IMAGE
}

/**
 * The part of `node:24-bookworm-slim` the workloads use, made from this machine's Node.js (the
 * one running the lab) on the Debian image: `node` under /usr/local/bin and the `node` user with
 * uid 1000. No npm: the pods run bundles, never install anything.
 */
export async function ensureNodejsImage(emit: EmitEvent): Promise<string> {
  if (await imageExists(NODEJS_IMAGE)) return NODEJS_IMAGE
  await ensureBaseImage(emit)
  emit({ kind: 'progress', message: `building ${NODEJS_IMAGE} from this machine's Node.js ${process.version}` })
  const dir = await mkdtemp(join(tmpdir(), 'serving-lab-node-'))
  try {
    await copyFile(process.execPath, join(dir, 'node'))
    await buildImage(
      NODEJS_IMAGE,
      { node: join(dir, 'node') },
      {
        dockerfile: [
          `FROM ${BASE_IMAGE}`,
          'COPY node /usr/local/bin/node',
          'RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node',
          'CMD ["node"]',
          '',
        ].join('\n'),
      },
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return NODEJS_IMAGE
}
