// A backup of one step: its namespace, every object in it that the cluster does not make itself
// (found by discovery, as `kubectl api-resources --namespaced --verbs=list` lists the types), and
// the cluster-scoped objects the step's manifests declare, cleaned for re-applying
// (backup-clean.ts). One multi-document YAML file whose first line says what it is; Secrets
// included, so the file is as sensitive as the cluster's Secrets.
import type { KubernetesObject } from '@kubernetes/client-node'
import { stringify } from 'yaml'
import { collectionPath, discoverResourceTypes, getJson, type Discovery, type ResourceType } from './api-discovery.ts'
import { cleanObject, skippedObjectReason, skippedTypeReason, type StepDeclarations } from './backup-clean.ts'
import { EnvironmentError } from './errors.ts'
import type { KubeContext } from './kube.ts'
import { parseManifests, readManifests } from './manifests.ts'
import { PROJECT } from './project.ts'
import { stepNamespace, type Step } from './steps.ts'

/** What the first line of a backup file says about it. */
export interface BackupHeader {
  version: 1
  step: string
  namespace: string
  takenAt: string
  context: string
  /** The CustomResourceDefinitions the objects need: a restore checks the cluster serves them. */
  crds: string[]
}

export interface Backup {
  header: BackupHeader
  objects: KubernetesObject[]
  /** What was left out, as "Kind/name: why". */
  skipped: string[]
  /** Discovery groups that did not answer, and cluster-scoped objects the manifests declare but the cluster lacks. */
  warnings: string[]
}

const MARK = `# ${PROJECT} backup `

const groupOf = (apiVersion = '') => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '')
const label = (object: KubernetesObject) => `${object.kind}/${object.metadata?.name}`

/** GET that answers undefined on 404. */
async function getIfThere<T>(kube: KubeContext, path: string): Promise<T | undefined> {
  try {
    return await getJson<T>(kube, path)
  } catch (error) {
    if ((error as { status?: number }).status === 404) return undefined
    throw error
  }
}

export interface NamespaceObjects {
  kept: KubernetesObject[]
  skipped: string[]
}

/** Every object of the namespace a backup keeps, cleaned, and what it leaves out with why. */
export async function namespaceObjects(
  kube: KubeContext,
  discovery: Discovery,
  namespace: string,
  declared: StepDeclarations,
): Promise<NamespaceObjects> {
  const listable = discovery.types.filter((t) => t.namespaced && t.verbs.includes('list'))
  const kept: KubernetesObject[] = []
  const skipped: string[] = []
  for (const type of listable) {
    if (skippedTypeReason(type)) continue
    const list = await getJson<{ items: KubernetesObject[] }>(kube, collectionPath(type, namespace))
    for (const item of list.items) {
      const object = { apiVersion: type.apiVersion, kind: type.kind, ...item }
      const reason = skippedObjectReason(object, declared)
      if (reason) skipped.push(`${label(object)}: ${reason}`)
      else kept.push(cleanObject(object))
    }
  }
  return { kept, skipped }
}

/** The served type of an object's group and kind, at the group's preferred version. */
export function typeOf(discovery: Discovery, object: KubernetesObject): ResourceType | undefined {
  return discovery.types.find((t) => t.group === groupOf(object.apiVersion) && t.kind === object.kind)
}

/** Takes the backup of a step from the cluster: its namespace must exist. */
export async function takeBackup(kube: KubeContext, step: Step): Promise<Backup> {
  const namespace = await stepNamespace(step)
  const manifests = await readManifests(step.dir)
  const ns = await getIfThere<KubernetesObject>(kube, `/api/v1/namespaces/${namespace}`)
  if (!ns)
    throw new EnvironmentError(
      `namespace ${namespace} does not exist on ${kube.context}: there is nothing of step ${step.id} to back up (npm run step ${step.id} applies it)`,
    )
  const discovery = await discoverResourceTypes(kube)
  const warnings = discovery.unavailable.map(
    ({ groupVersion, reason }) =>
      `API ${groupVersion} did not answer discovery, its objects are not in the backup: ${reason}`,
  )
  const declared = {
    leases: new Set(manifests.filter((o) => o.kind === 'Lease').map((o) => o.metadata!.name!)),
  }
  const { kept, skipped } = await namespaceObjects(kube, discovery, namespace, declared)

  // Cluster-scoped objects cannot be listed by namespace: the step's manifests say which are its own.
  const clusterScoped: KubernetesObject[] = []
  for (const declaredObject of manifests.filter((o) => !o.metadata?.namespace && o.kind !== 'Namespace')) {
    const type = typeOf(discovery, declaredObject)
    if (!type || type.namespaced) continue
    const live = await getIfThere<KubernetesObject>(kube, `${collectionPath(type)}/${declaredObject.metadata!.name}`)
    if (live) clusterScoped.push(cleanObject({ apiVersion: type.apiVersion, kind: type.kind, ...live }))
    else warnings.push(`${label(declaredObject)} is declared by the step but not on the cluster: not in the backup`)
  }

  const objects = [cleanObject({ apiVersion: 'v1', kind: 'Namespace', ...ns }), ...clusterScoped, ...kept]
  const crds: string[] = []
  for (const type of new Set(objects.map((o) => typeOf(discovery, o)))) {
    if (!type || type.group === '') continue
    const name = `${type.resource}.${type.group}`
    if (await getIfThere(kube, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)) crds.push(name)
  }
  const header: BackupHeader = {
    version: 1,
    step: step.id,
    namespace,
    takenAt: new Date().toISOString(),
    context: kube.context,
    crds,
  }
  return { header, objects, skipped, warnings }
}

/** The file's text: the header line, a warning that it holds Secrets, then one YAML document per object. */
export function formatBackup({ header, objects }: Pick<Backup, 'header' | 'objects'>): string {
  const secrets = objects.filter((o) => o.kind === 'Secret').length
  const lines = [
    MARK + JSON.stringify(header),
    `# ${objects.length} objects of step ${header.step} (namespace ${header.namespace}), taken from ${header.context} at ${header.takenAt}.`,
    `# Holds ${secrets} Secret(s) in clear base64: keep this file as private as the cluster's Secrets.`,
    '# Restore: npm run restore -- --from THIS_FILE [--namespace NEW] (server-side apply, then waits for the rollout).',
  ]
  return lines.join('\n') + '\n' + objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n')
}

/** Reads a backup file's text; refuses, saying so, a file that `formatBackup` did not write. */
export function parseBackup(text: string, source: string): Pick<Backup, 'header' | 'objects'> {
  const firstLine = text.split('\n', 1)[0] ?? ''
  let header: BackupHeader | undefined
  if (firstLine.startsWith(MARK)) {
    try {
      header = JSON.parse(firstLine.slice(MARK.length)) as BackupHeader
    } catch {
      header = undefined
    }
  }
  if (!header || header.version !== 1 || !header.namespace)
    throw new EnvironmentError(
      `${source} is not a backup of the lab: its first line must be '${MARK}{"version":1,…}', as npm run backup writes it`,
    )
  return { header, objects: parseManifests(text, source) }
}
