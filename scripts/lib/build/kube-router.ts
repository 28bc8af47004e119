import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ensureKubeRouter, VERSIONS } from './binaries.ts'
import { BASE_IMAGE, buildImage, ensureBaseImage } from './images.ts'
import { imageExists, imageId } from '../docker.ts'
import { hashImageInputs, type ImageInput } from '../image.ts'
import type { EmitEvent } from '../output.ts'
import { repoRoot } from '../project.ts'

/**
 * kube-router as the pod network of the lab's kind clusters: its image, built on the lab's Debian
 * image with the binary from the Go module proxy, and the manifest kind installs as its default
 * CNI. Sources: images/kube-router/.
 */
export const kubeRouterDir = join(repoRoot, 'images', 'kube-router')
const IMAGE_NAME = 'serving-lab.local/kube-router'
/** The manifest; everything else in the folder goes into the image. */
const MANIFEST = 'default-cni.yaml'
/** Where default-cni.yaml names the image: the tag is known only once the image is built. */
export const IMAGE_PLACEHOLDER = '__KUBE_ROUTER_IMAGE__'

/** The files the image is built from (the folder less its manifest), then the binary and the base image's id. */
async function imageInputs(binary: string): Promise<ImageInput[]> {
  const names = (await readdir(kubeRouterDir)).filter((name) => name !== MANIFEST).sort()
  const files = await Promise.all(
    names.map(async (name) => ({
      path: `images/kube-router/${name}`,
      bytes: await readFile(join(kubeRouterDir, name)),
    })),
  )
  const baseId = await imageId(BASE_IMAGE)
  return [
    ...files,
    { path: 'kube-router', bytes: await readFile(binary) },
    { path: 'base-image-id', bytes: Buffer.from(baseId) },
  ]
}

/** `serving-lab.local/kube-router:v2.1.0-<hash>`: the version, and a hash of everything the image is made from. */
export function kubeRouterTag(inputs: readonly ImageInput[]): string {
  return `${IMAGE_NAME}:${VERSIONS.kubeRouter}-${hashImageInputs(inputs)}`
}

/** The kube-router image; built only when no image has this content's tag. Returns the tag. */
export async function ensureKubeRouterImage(emit: EmitEvent): Promise<string> {
  const binary = await ensureKubeRouter(emit)
  await ensureBaseImage(emit)
  const tag = kubeRouterTag(await imageInputs(binary))
  if (await imageExists(tag)) return tag
  emit({ kind: 'progress', message: `building ${tag} (iptables, ipset, conntrack and iproute2 from Debian)` })
  const files: Record<string, string> = { 'kube-router': binary }
  for (const name of await readdir(kubeRouterDir)) if (name !== MANIFEST) files[name] = join(kubeRouterDir, name)
  await buildImage(tag, files, { buildArgs: { BASE_IMAGE } })
  return tag
}

/** The manifest with the image put in: every placeholder replaced, and there must be one. */
export function putImage(manifest: string, image: string): string {
  if (!manifest.includes(IMAGE_PLACEHOLDER))
    throw new Error(`${MANIFEST} names no image to replace (${IMAGE_PLACEHOLDER})`)
  return manifest.replaceAll(IMAGE_PLACEHOLDER, image)
}

/** images/kube-router/default-cni.yaml running `image`: what the node image carries as /kind/manifests/default-cni.yaml. */
export async function renderCniManifest(image: string): Promise<string> {
  return putImage(await readFile(join(kubeRouterDir, MANIFEST), 'utf8'), image)
}

/** The default CNI of a kind node image: the images it runs (to import into the node) and its manifest. */
export async function defaultCni(emit: EmitEvent): Promise<{ images: string[]; manifest: string }> {
  const image = await ensureKubeRouterImage(emit)
  return { images: [image], manifest: await renderCniManifest(image) }
}
