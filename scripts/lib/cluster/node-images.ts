import { createHash } from 'node:crypto'
import { copyFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { imageExists } from '../docker.ts'
import { EnvironmentError } from '../errors.ts'
import { exec, hasProgram } from '../exec.ts'
import type { EmitEvent } from '../output.ts'
import { ensureCoredns, VERSIONS } from './binaries.ts'

/**
 * The images the `nodes` provider builds, since no registry can be reached: a Debian root
 * filesystem made by debootstrap, and on it the node image, the pause image, CoreDNS and the
 * Node.js base the workload image builds on.
 */
export const nodesDir = join(dirname(fileURLToPath(import.meta.url)), 'nodes')
const REGISTRY = 'serving-lab.local'
export const BASE_IMAGE = `${REGISTRY}/debian:bookworm`
/** Must match `sandbox_image` in nodes/containerd.toml. */
export const PAUSE_IMAGE = `${REGISTRY}/pause:3.10`
export const COREDNS_IMAGE = `${REGISTRY}/coredns:${VERSIONS.coredns}`
export const NODEJS_IMAGE = `${REGISTRY}/nodejs:${process.versions.node}-bookworm`
const DEBIAN_MIRROR = 'http://deb.debian.org/debian'

/** `docker build` of a folder made for the purpose: the given files and a Dockerfile. */
async function buildFromFiles(tag: string, dockerfile: string, files: Record<string, string>, extraArgs: string[] = []): Promise<void> {
  const context = await mkdtemp(join(tmpdir(), 'serving-lab-image-'))
  try {
    for (const [name, source] of Object.entries(files)) await cp(source, join(context, name), { recursive: true })
    await writeFile(join(context, 'Dockerfile'), dockerfile)
    await exec('docker', ['build', '-q', '-t', tag, ...extraArgs, context])
  } finally {
    await rm(context, { recursive: true, force: true })
  }
}

/** Debian bookworm (minbase) from the Debian mirror, imported as an image: the root of every other image here. */
export async function ensureBaseImage(emit: EmitEvent): Promise<string> {
  if (await imageExists(BASE_IMAGE)) return BASE_IMAGE
  if (!(await hasProgram('debootstrap'))) throw new EnvironmentError("the nodes provider builds its Debian image with debootstrap: 'apt-get install debootstrap' (as root)")
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

/** What node.Dockerfile is built from: its tag changes when one of them does. */
const NODE_IMAGE_FILES = ['node.Dockerfile', 'containerd.toml', 'machine.sh', 'control-plane.sh', 'node.sh']

/** The node image, tagged with a hash of the files it is built from. */
async function ensureNodeImage(emit: EmitEvent): Promise<string> {
  const hash = createHash('sha256')
  for (const name of NODE_IMAGE_FILES) hash.update(`${name}\0`).update(await readFile(join(nodesDir, name)))
  const tag = `${REGISTRY}/kube-node:${VERSIONS.kubernetes}-${hash.digest('hex').slice(0, 12)}`
  if (await imageExists(tag)) return tag
  emit({ kind: 'progress', message: `building ${tag} (containerd, runc, CNI plugins and iptables from Debian)` })
  // The build's apt-get reaches the Debian mirror the way this machine does.
  await exec('docker', ['build', '-q', '--network', 'host', '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-t', tag, '-f', join(nodesDir, 'node.Dockerfile'), nodesDir])
  return tag
}

export async function ensurePauseImage(emit: EmitEvent): Promise<void> {
  if (await imageExists(PAUSE_IMAGE)) return
  if (!(await hasProgram('gcc'))) throw new EnvironmentError("the pause image is compiled from nodes/pause.c with gcc: 'apt-get install gcc libc6-dev'")
  emit({ kind: 'progress', message: `compiling ${PAUSE_IMAGE}` })
  const dir = await mkdtemp(join(tmpdir(), 'serving-lab-pause-'))
  try {
    await exec('gcc', ['-Os', '-static', '-s', '-o', join(dir, 'pause'), join(nodesDir, 'pause.c')])
    await buildFromFiles(PAUSE_IMAGE, 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n', { pause: join(dir, 'pause') })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function ensureCorednsImage(emit: EmitEvent): Promise<void> {
  if (await imageExists(COREDNS_IMAGE)) return
  const binary = await ensureCoredns(emit)
  emit({ kind: 'progress', message: `building ${COREDNS_IMAGE}` })
  await buildFromFiles(COREDNS_IMAGE, 'FROM scratch\nCOPY coredns /coredns\nUSER 65532:65532\nENTRYPOINT ["/coredns"]\n', { coredns: binary })
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
    await buildFromFiles(
      NODEJS_IMAGE,
      [
        `FROM ${BASE_IMAGE}`,
        'COPY node /usr/local/bin/node',
        'RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node',
        'CMD ["node"]',
        '',
      ].join('\n'),
      { node: join(dir, 'node') },
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return NODEJS_IMAGE
}

/** Every image a node needs before it runs pods; returns the node image's tag. */
export async function ensureNodeImages(emit: EmitEvent): Promise<string> {
  await ensureBaseImage(emit)
  const node = await ensureNodeImage(emit)
  await ensurePauseImage(emit)
  await ensureCorednsImage(emit)
  return node
}
