// The images the lab builds for a cluster's nodes, where no registry serves them: the workloads'
// image always (every step runs it, and so do the checks' own pods), and each other image the lab
// builds once the manifests to run name it (step 08's Prometheus). The runner loads into the nodes
// those they lack (runner.ts, ensureImages).
import type { KubernetesObject } from '@kubernetes/client-node'
import { ensurePrometheusImage } from './build/prometheus-image.ts'
import { PROMETHEUS_IMAGE } from './build/prometheus.ts'
import { buildImage, type BuiltImage } from './image.ts'
import type { EmitEvent } from './output.ts'

/** The images the lab builds besides the workloads', by the reference manifests name them by. */
const otherImages: Record<string, (emit: EmitEvent) => Promise<BuiltImage>> = {
  [PROMETHEUS_IMAGE]: ensurePrometheusImage,
}

/** Every container image the objects name, wherever their pod specs sit (a Deployment's template, an LWS's, a Pod). */
export function imagesNamed(objects: readonly KubernetesObject[]): string[] {
  const found = new Set<string>()
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit)
    if (typeof value !== 'object' || value === null) return
    for (const [key, inner] of Object.entries(value)) {
      if ((key === 'containers' || key === 'initContainers') && Array.isArray(inner))
        for (const container of inner as { image?: unknown }[])
          if (typeof container?.image === 'string') found.add(container.image)
      visit(inner)
    }
  }
  visit(objects)
  return [...found].sort()
}

/** The lab's other images that the objects name, which must be built and loaded with the workloads'. */
export const otherImagesNamed = (objects: readonly KubernetesObject[]): string[] =>
  imagesNamed(objects).filter((image) => image in otherImages)

/** Builds what is missing of the workload image and of the other images the objects name. */
export async function buildLabImages(
  objects: readonly KubernetesObject[],
  emit: EmitEvent,
  options: { nodejsImage?: string } = {},
): Promise<BuiltImage[]> {
  const images = [await buildImage(emit, options)]
  for (const reference of otherImagesNamed(objects)) images.push(await otherImages[reference]!(emit))
  return images
}

/** Whether the nodes have this build of an image: they list it with a registry (docker.io/…), the content tag says which build. */
export const onNodes = (present: readonly string[], image: BuiltImage): boolean =>
  present.some((tag) => tag === image.contentReference || tag.endsWith(`/${image.contentReference}`))
