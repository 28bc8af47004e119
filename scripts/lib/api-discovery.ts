// The resource types the API server serves, read from its discovery documents (/api, /apis and
// each group's preferred version) as `kubectl api-resources` reads them. Raw JSON throughout: the
// typed client drops fields its models do not know, and a backup must keep every one.
import { getRaw, type KubeContext } from './kube.ts'

/** One resource type at its group's preferred version, as `kubectl api-resources` lists it. */
export interface ResourceType {
  /** "" for the core group. */
  group: string
  apiVersion: string
  kind: string
  /** The plural in URLs: "configmaps". */
  resource: string
  namespaced: boolean
  verbs: string[]
}

export interface Discovery {
  types: ResourceType[]
  /** Groups whose server did not answer (an aggregated API whose pod is down), with the answer. */
  unavailable: { groupVersion: string; reason: string }[]
}

interface ResourceList {
  resources: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[]
}

/** A GET through the API server, parsed; throws with the path and the answer when it is not a 200. */
export async function getJson<T>(kube: KubeContext, path: string): Promise<T> {
  const { status, text } = await getRaw(kube, path)
  if (status !== 200) throw Object.assign(new Error(`GET ${path}: HTTP ${status}: ${text.slice(0, 200)}`), { status })
  return JSON.parse(text) as T
}

/** Every resource type served, subresources (`pods/log`) left out. */
export async function discoverResourceTypes(kube: KubeContext): Promise<Discovery> {
  const core = await getJson<{ versions: string[] }>(kube, '/api')
  const groups = await getJson<{ groups: { name: string; preferredVersion: { groupVersion: string } }[] }>(
    kube,
    '/apis',
  )
  const lists = [
    ...core.versions.slice(0, 1).map((version) => ({ group: '', groupVersion: version, path: `/api/${version}` })),
    ...groups.groups.map(({ name, preferredVersion: { groupVersion } }) => ({
      group: name,
      groupVersion,
      path: `/apis/${groupVersion}`,
    })),
  ]
  const types: ResourceType[] = []
  const unavailable: Discovery['unavailable'] = []
  const answers = await Promise.allSettled(lists.map(({ path }) => getJson<ResourceList>(kube, path)))
  answers.forEach((answer, i) => {
    const { group, groupVersion } = lists[i]!
    if (answer.status === 'rejected') {
      unavailable.push({ groupVersion, reason: (answer.reason as Error).message })
      return
    }
    for (const { name, kind, namespaced, verbs = [] } of answer.value.resources) {
      if (name.includes('/')) continue
      types.push({ group, apiVersion: groupVersion, kind, resource: name, namespaced, verbs })
    }
  })
  return { types, unavailable }
}

/** The URL path of a resource type's collection, in a namespace or cluster-wide. */
export function collectionPath(type: Pick<ResourceType, 'apiVersion' | 'resource'>, namespace?: string): string {
  const root = type.apiVersion.includes('/') ? `/apis/${type.apiVersion}` : `/api/${type.apiVersion}`
  return namespace ? `${root}/namespaces/${namespace}/${type.resource}` : `${root}/${type.resource}`
}
