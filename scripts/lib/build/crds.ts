// What the lab's CRD installers share: CRDs taken from a Go module at a pinned version (its YAML,
// or controller-gen's output from its types), fetched once into the cache, each file checked to
// hold exactly the CRD expected, then installed with server-side apply and waited on until the
// API serves their kinds. Each installer says only what is its own: the module, and which CRDs.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiextensionsV1Api, type KubernetesObject } from '@kubernetes/client-node'
import { apply, getRaw, type KubeContext } from '../kube.ts'
import { parseManifests } from '../manifests.ts'
import type { EmitEvent } from '../output.ts'
import { pollUntil } from '../poll.ts'

/** Where a set of CRDs comes from, and where it is kept once fetched. */
export interface CrdSource {
  /** The folder the CRDs are kept in, one `<name>.yaml` each. */
  cacheDir: string
  /** Each CRD by name, with the file that holds it, relative to the folder `fetch` gives. */
  crds: readonly { name: string; file: string }[]
  /** Makes the files available (downloads the module, or generates from it) and gives their folder. */
  fetch(emit: EmitEvent): Promise<string>
}

/** The one CRD of a file, checked to be `name`, so a moved or renamed file upstream fails here. */
export function crdFrom(text: string, name: string, source: string): KubernetesObject {
  const objects = parseManifests(text, source)
  const crd = objects.find((o) => o.kind === 'CustomResourceDefinition' && o.metadata?.name === name)
  if (!crd || objects.length !== 1)
    throw new Error(`${source} should hold exactly the CRD ${name}; it holds ${objects.length} objects`)
  return crd
}

/** The CRDs of a source: from the cache, else fetched, checked (all of them before any is cached), and cached. */
export async function cachedCrds(source: CrdSource, emit: EmitEvent): Promise<KubernetesObject[]> {
  const cachedFile = (name: string) => join(source.cacheDir, `${name}.yaml`)
  try {
    return await Promise.all(
      source.crds.map(async ({ name }) => crdFrom(await readFile(cachedFile(name), 'utf8'), name, cachedFile(name))),
    )
  } catch {
    // Not cached yet, or only in part: fetch them all.
  }
  const dir = await source.fetch(emit)
  const fetched = await Promise.all(
    source.crds.map(async ({ name, file }) => {
      const path = join(dir, file)
      const text = await readFile(path, 'utf8')
      return { name, text, crd: crdFrom(text, name, path) }
    }),
  )
  // Each file is renamed into place, so a reader (another run) never sees half of one.
  await mkdir(source.cacheDir, { recursive: true })
  for (const { name, text } of fetched) {
    await writeFile(`${cachedFile(name)}.tmp`, text)
    await rename(`${cachedFile(name)}.tmp`, cachedFile(name))
  }
  return fetched.map(({ crd }) => crd)
}

/**
 * Installs CRDs with server-side apply and waits until the API serves each kind: Established, and
 * a list of the kind answered. Established alone is not enough: the API server marks it before
 * its handler for the new resource is in place, and a request in between gets a 404 (seen at load
 * 15 in CI, on the LeaderWorkerSet CRD).
 */
export async function installCrds(kube: KubeContext, crds: KubernetesObject[], timeoutMs = 60_000): Promise<void> {
  await apply(kube, crds)
  const api = kube.config.makeApiClient(ApiextensionsV1Api)
  for (const name of crds.map((crd) => crd.metadata!.name!)) {
    const { value, held } = await pollUntil(
      () => api.readCustomResourceDefinition({ name }),
      (crd) => Boolean(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')),
      { timeoutMs, intervalMs: 250 },
    )
    if (!held)
      throw new Error(
        `the CRD ${name} was not Established within ${timeoutMs / 1000} s: ${JSON.stringify(value.status?.conditions)}`,
      )
    const version = value.spec.versions.find((v) => v.served)?.name
    const path = `/apis/${value.spec.group}/${version}/${value.spec.names.plural}?limit=1`
    const listed = await pollUntil(
      () => getRaw(kube, path),
      ({ status }) => status === 200,
      {
        timeoutMs,
        intervalMs: 250,
      },
    )
    if (!listed.held)
      throw new Error(
        `the CRD ${name} is Established but GET ${path} answers ${listed.value.status} after ${timeoutMs / 1000} s`,
      )
  }
}
