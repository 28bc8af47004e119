import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'

/** The YAML files of a folder (not its subfolders), in file-name order: the order they are applied in. */
export async function manifestFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  return entries
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => join(dir, entry.name))
    .sort()
}

export function parseManifests(text: string, source = 'manifest'): KubernetesObject[] {
  const objects: KubernetesObject[] = []
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`${source}: ${document.errors[0]?.message}`)
    const object = document.toJS() as KubernetesObject | null
    if (object === null) continue
    if (!object.apiVersion || !object.kind || !object.metadata?.name) {
      throw new Error(`${source}: every document needs apiVersion, kind and metadata.name`)
    }
    objects.push(object)
  }
  return objects
}

/** Every object of a step folder, in apply order. */
export async function readManifests(dir: string): Promise<KubernetesObject[]> {
  const objects: KubernetesObject[] = []
  for (const file of await manifestFiles(dir)) objects.push(...parseManifests(await readFile(file, 'utf8'), file))
  return objects
}
