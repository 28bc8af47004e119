import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import packageJson from '../../package.json' with { type: 'json' }
import { buildWorkloads } from './build/workloads.ts'
import { imageExists, requireDockerEngine } from './docker.ts'
import { exec } from './exec.ts'
import type { EmitEvent } from './output.ts'
import { repoRoot } from './project.ts'

/** The one image every workload runs from; manifests name it with `imagePullPolicy: IfNotPresent`. */
export const IMAGE_NAME = 'multi-node-serving-lab/workloads'
/** The fixed tag manifests use: the lab's version, never `latest`. */
export const IMAGE_TAG = packageJson.version
export const IMAGE = `${IMAGE_NAME}:${IMAGE_TAG}`

/** Everything the image is made from: the bundles' sources and how they are built, and the Dockerfile. */
const imageInputs = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'scripts/lib/build/workloads.ts',
  'workloads',
]

export interface ImageInput {
  /** Relative to the repository root, with `/` separators. */
  path: string
  bytes: Uint8Array
}

/**
 * The content tag: sha256 over the inputs sorted by path, each as its path, its length and its
 * bytes (the length keeps one file's end from passing for the next one's start); 12 hex digits.
 */
export function hashImageInputs(files: readonly ImageInput[]): string {
  const hash = createHash('sha256')
  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    hash.update(`${file.path}\0${file.bytes.length}\0`)
    hash.update(file.bytes)
  }
  return hash.digest('hex').slice(0, 12)
}

/** Reads every file the image is built from, under `root`. */
export async function readImageInputs(root: string): Promise<ImageInput[]> {
  const paths: string[] = []
  for (const input of imageInputs) {
    const entries = await readdir(join(root, input), { recursive: true, withFileTypes: true }).catch(() => null)
    if (!entries) {
      paths.push(input)
      continue
    }
    for (const entry of entries) {
      const path = relative(root, join(entry.parentPath, entry.name)).split(sep).join('/')
      if (entry.isFile() && !path.split('/').includes('node_modules')) paths.push(path)
    }
  }
  return Promise.all(paths.map(async (path) => ({ path, bytes: await readFile(join(root, path)) })))
}

/** The content-derived tag of the image the current sources would build. */
export async function imageContentTag(root: string = repoRoot): Promise<string> {
  return hashImageInputs(await readImageInputs(root))
}

/** An image the lab builds: the reference manifests name it by, and the tag of its content. */
export interface BuiltImage {
  /** `name:version`, what manifests use. */
  reference: string
  /** `name:<content hash>`, what tells whether the sources changed since the last build. */
  contentReference: string
  /** False when an image of these exact sources already existed. */
  built: boolean
}

/**
 * Builds the workload image, tagged with the fixed tag and the content tag, unless an image with
 * this content tag exists already; then it only points the fixed tag at it. The workloads are
 * bundled here with esbuild; Docker gets only the bundles as its build context. `nodejsImage`
 * replaces the Dockerfile's `node:24-bookworm-slim` where no registry can be reached.
 */
export async function buildImage(
  emit: EmitEvent,
  options: { root?: string; nodejsImage?: string } = {},
): Promise<BuiltImage> {
  const root = options.root ?? repoRoot
  const contentReference = `${IMAGE_NAME}:${await imageContentTag(root)}`
  await requireDockerEngine()
  if (await imageExists(contentReference)) {
    // The fixed tag may point at a later build whose changes were since undone.
    await exec('docker', ['tag', contentReference, IMAGE])
    emit({ kind: 'progress', message: `${contentReference} is up to date` })
    return { reference: IMAGE, contentReference, built: false }
  }
  emit({ kind: 'progress', message: `building ${IMAGE} (${contentReference})` })
  const context = await mkdtemp(join(tmpdir(), 'serving-lab-workloads-'))
  try {
    await buildWorkloads(join(context, 'app'))
    const base = options.nodejsImage ? ['--build-arg', `NODEJS_IMAGE=${options.nodejsImage}`] : []
    await exec('docker', [
      'build',
      '-q',
      '-f',
      join(root, 'workloads', 'Dockerfile'),
      ...base,
      '-t',
      IMAGE,
      '-t',
      contentReference,
      context,
    ])
  } finally {
    await rm(context, { recursive: true, force: true })
  }
  return { reference: IMAGE, contentReference, built: true }
}
