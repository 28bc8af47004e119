// JSON Patch (RFC 6902: add, remove, replace, and test to pin what an index points at) on
// JSON Pointers (RFC 6901). Written here rather than taken from a library because the lab needs
// only these operations, and one thing a general library does not give: an error that names the
// path that no longer exists, so a patch written against a manifest cannot silently rot.

export type PatchOperation =
  { op: 'add' | 'replace' | 'test'; path: string; value: unknown } | { op: 'remove'; path: string }

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
export function applyOperation(document: Json, operation: PatchOperation): void {
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

/** A copy of `document` with the operations applied in order; the input is not changed. */
export function applyJsonPatch<T>(document: T, operations: readonly PatchOperation[]): T {
  const result = structuredClone(document)
  for (const operation of operations) applyOperation(result as Json, operation)
  return result
}
