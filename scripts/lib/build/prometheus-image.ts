import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { imageExists } from '../docker.ts'
import { exec } from '../exec.ts'
import { hashImageInputs, type BuiltImage, type ImageInput } from '../image.ts'
import type { EmitEvent } from '../output.ts'
import { repoRoot } from '../project.ts'
import { buildImage } from './images.ts'
import { ensurePrometheus, PROMETHEUS_IMAGE } from './prometheus.ts'

/**
 * The image step 08's Deployment names, for clusters whose nodes run containers: the Prometheus
 * built here on an empty base (sources: images/prometheus/). Manifests keep the release's tag;
 * a second tag, the release and a hash of everything the image is made from, says whether the
 * image on hand (and on the nodes) is this one.
 */
export const prometheusImageDir = join(repoRoot, 'images', 'prometheus')

/** The folder's files, then the binary. */
async function imageInputs(binary: string): Promise<ImageInput[]> {
  const names = (await readdir(prometheusImageDir)).sort()
  const files = await Promise.all(
    names.map(async (name) => ({
      path: `images/prometheus/${name}`,
      bytes: await readFile(join(prometheusImageDir, name)),
    })),
  )
  return [...files, { path: 'prometheus', bytes: await readFile(binary) }]
}

/** `serving-lab.local/prometheus:3.16.0-<hash>`: the manifests' reference with a hash of the inputs added to its tag. */
export function prometheusContentReference(inputs: readonly ImageInput[]): string {
  return `${PROMETHEUS_IMAGE}-${hashImageInputs(inputs)}`
}

/** The Prometheus image, built only when no image has this content's tag; the release's tag then points at it. */
export async function ensurePrometheusImage(emit: EmitEvent): Promise<BuiltImage> {
  const { prometheus } = await ensurePrometheus(emit)
  const contentReference = prometheusContentReference(await imageInputs(prometheus))
  const built = !(await imageExists(contentReference))
  if (built) {
    emit({ kind: 'progress', message: `building ${PROMETHEUS_IMAGE} (${contentReference})` })
    const files: Record<string, string> = { prometheus }
    for (const name of await readdir(prometheusImageDir)) files[name] = join(prometheusImageDir, name)
    await buildImage(contentReference, files)
  }
  await exec('docker', ['tag', contentReference, PROMETHEUS_IMAGE])
  return { reference: PROMETHEUS_IMAGE, contentReference, built }
}
