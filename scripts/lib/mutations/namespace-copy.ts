// A copy of a step in a namespace of its own, so each run of the mutation suite starts from an
// empty namespace without waiting for the last one to be deleted: the namespace controller waits
// five seconds before it acts on a deleted namespace, then cleans it up, and a name cannot be
// reused until it is gone. Each copy is deleted in the background once its checks have run.
import type { KubernetesObject } from '@kubernetes/client-node'

/** Kubernetes limits a namespace's name to one DNS label. */
const MAX_NAME = 63

/** The namespace of a copy: `lab-01-parallel-pod-management`, cut to the longest name Kubernetes allows. */
export function copyNamespace(namespace: string, run: string): string {
  return `${namespace}-${run}`.slice(0, MAX_NAME).replace(/-+$/, '')
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** `name` wherever it stands as a whole DNS label or word: `lab-03`, `x.lab-03.svc`, `serviceaccount:lab-03:router`. */
const asLabel = (name: string) => new RegExp(`(?<![A-Za-z0-9-])${escape(name)}(?![A-Za-z0-9-])`, 'g')

function renamed(value: unknown, from: RegExp, to: string): unknown {
  if (typeof value === 'string') return value.replace(from, to)
  if (Array.isArray(value)) return value.map((item) => renamed(item, from, to))
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renamed(item, from, to)]))
  return value
}

/**
 * The step's objects as written for namespace `to` instead of `from`: its Namespace, every
 * object's namespace, a RoleBinding's subjects, and DNS names such as
 * `llama-3-70b-0.llama-3-70b.lab-03.svc.cluster.local` in the pods' environment. Keys are left
 * as they are; a value that merely begins with the name (`lab-03-group-secret`) is not the name.
 */
export function inNamespace(objects: readonly KubernetesObject[], from: string, to: string): KubernetesObject[] {
  const pattern = asLabel(from)
  return objects.map((object) => renamed(object, pattern, to) as KubernetesObject)
}

/** Text about a copy (a hint, an API server's refusal) as it reads for the step's own namespace. */
export function asInStep(text: string, copy: string, namespace: string): string {
  return text.replace(asLabel(copy), namespace)
}
