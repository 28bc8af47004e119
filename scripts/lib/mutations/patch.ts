// A mutation's patch: objects of a step picked by kind and metadata.name, each changed by JSON
// Patch operations (json-patch.ts) or deleted whole. An error names the object as well as the path.
import type { KubernetesObject } from '@kubernetes/client-node'
import { applyOperation, PatchError, type PatchOperation } from '../json-patch.ts'

/** One object of the step, and what to do to it. */
export type ObjectPatch = { kind: string; name: string } & ({ ops: PatchOperation[] } | { delete: true })

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
        applyOperation(result[index] as unknown as Record<string, unknown>, operation)
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
