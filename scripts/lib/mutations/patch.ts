// A mutation's patch: objects of a step picked by kind and metadata.name, each changed by
// RFC 6902 JSON Patch operations (add, remove, replace, and test to pin what an index points at)
// or deleted whole. Written here rather
// than taken from a library because the lab needs only these three operations, and one thing
// a general library does not give: an error that names the object and the path that no longer
// exists, so a mutation list cannot silently rot when a manifest changes.
import type { KubernetesObject } from '@kubernetes/client-node'

export type PatchOperation =
  { op: 'add' | 'replace' | 'test'; path: string; value: unknown } | { op: 'remove'; path: string }

/** One object of the step, and what to do to it. */
export type ObjectPatch = { kind: string; name: string } & ({ ops: PatchOperation[] } | { delete: true })

export class PatchError extends Error {
  override name = 'PatchError'
}

type Json = Record<string, unknown> | unknown[]

/** The reference tokens of a JSON Pointer (RFC 6901): "/a/b~1c" is ["a", "b/c"]. */
export function pointerTokens(path: string): string[] {
  if (path === '') return []
  if (!path.startsWith('/')) throw new PatchError(`'${path}' is not a JSON Pointer: it must start with '/'`)
  return path
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'))
}

const isContainer = (value: unknown): value is Json => typeof value === 'object' && value !== null

/** An array index as RFC 6901 writes it: digits without a leading zero. */
function arrayIndex(token: string, length: number, where: string, allowEnd: boolean): number {
  if (allowEnd && token === '-') return length
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PatchError(`${where}: '${token}' is not an array index`)
  const index = Number(token)
  if (index > length || (!allowEnd && index === length))
    throw new PatchError(`${where}: index ${index} is past the end of an array of ${length}`)
  return index
}

/** Applies one operation to a document in place. Every segment before the last must exist. */
function applyOperation(document: Json, operation: PatchOperation): void {
  const tokens = pointerTokens(operation.path)
  if (tokens.length === 0)
    throw new PatchError(`${operation.op} ${operation.path}: the whole object cannot be patched; delete it instead`)
  let parent: unknown = document
  for (const [i, token] of tokens.slice(0, -1).entries()) {
    const at = '/' + tokens.slice(0, i + 1).join('/')
    if (!isContainer(parent))
      throw new PatchError(`${operation.op} ${operation.path}: no such path (${at} is inside a ${typeof parent})`)
    const next: unknown = Array.isArray(parent)
      ? parent[arrayIndex(token, parent.length, `${operation.op} ${operation.path}`, false)]
      : parent[token]
    if (next === undefined) throw new PatchError(`${operation.op} ${operation.path}: no such path (nothing at ${at})`)
    parent = next
  }
  const last = tokens.at(-1)!
  if (!isContainer(parent))
    throw new PatchError(`${operation.op} ${operation.path}: no such path (its parent is a ${typeof parent})`)
  const where = `${operation.op} ${operation.path}`
  if (operation.op === 'test') {
    const actual: unknown = Array.isArray(parent) ? parent[arrayIndex(last, parent.length, where, false)] : parent[last]
    if (actual === undefined) throw new PatchError(`${where}: no such path (nothing at ${operation.path})`)
    if (JSON.stringify(actual) !== JSON.stringify(operation.value)) {
      throw new PatchError(
        `${where}: expected ${JSON.stringify(operation.value)}, found ${JSON.stringify(actual)}: the manifest changed`,
      )
    }
    return
  }
  if (Array.isArray(parent)) {
    const index = arrayIndex(last, parent.length, where, operation.op === 'add')
    if (operation.op === 'add') parent.splice(index, 0, structuredClone(operation.value))
    else if (operation.op === 'replace') parent[index] = structuredClone(operation.value)
    else parent.splice(index, 1)
    return
  }
  if (operation.op !== 'add' && !(last in parent))
    throw new PatchError(`${where}: no such path (nothing at ${operation.path})`)
  if (operation.op === 'remove') delete parent[last]
  else parent[last] = structuredClone(operation.value)
}

const describe = (patch: { kind: string; name: string }) => `${patch.kind}/${patch.name}`

/**
 * The step's objects with the patches applied, in their order (a deleted object leaves it).
 * The input is not changed. Throws a PatchError naming the object and operation that do not fit.
 */
export function applyPatches(
  objects: readonly KubernetesObject[],
  patches: readonly ObjectPatch[],
): KubernetesObject[] {
  const result: (KubernetesObject | undefined)[] = objects.map((object) => structuredClone(object))
  for (const patch of patches) {
    const index = result.findIndex((object) => object?.kind === patch.kind && object.metadata?.name === patch.name)
    if (index < 0) {
      const known = result
        .filter((o): o is KubernetesObject => o !== undefined)
        .map((o) => `${o.kind}/${o.metadata?.name}`)
      throw new PatchError(`${describe(patch)}: the step has no such object (it has ${known.join(', ')})`)
    }
    if ('delete' in patch) {
      result[index] = undefined
      continue
    }
    for (const operation of patch.ops) {
      try {
        applyOperation(result[index] as unknown as Json, operation)
      } catch (error) {
        if (error instanceof PatchError) throw new PatchError(`${describe(patch)}: ${error.message}`)
        throw error
      }
    }
    const patched = result[index]!
    if (patched.kind !== patch.kind || patched.metadata?.name !== patch.name) {
      throw new PatchError(
        `${describe(patch)}: a patch must not change an object's kind or name; delete it and add another instead`,
      )
    }
  }
  return result.filter((object): object is KubernetesObject => object !== undefined)
}
