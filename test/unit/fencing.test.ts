// Fenced writes: the token compare, and the compare-and-swap that re-reads and re-checks after a 409.
import type { V1ConfigMap } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import {
  checkFence,
  FENCING_ANNOTATION,
  FencedWriteError,
  fencedUpdate,
  storedToken,
  type ObjectAccess,
} from '../../workloads/shared/fencing.ts'

const map = (resourceVersion: string, token?: string, value = ''): V1ConfigMap => ({
  metadata: {
    name: 'fenced',
    resourceVersion,
    annotations: token === undefined ? {} : { [FENCING_ANNOTATION]: token },
  },
  data: { value },
})

/** An object store that answers 409 to a stale resourceVersion, with an optional write by someone else before the first replace lands. */
function store(initial: V1ConfigMap, interleaved?: V1ConfigMap) {
  let current = initial
  let pending = interleaved
  const writes: V1ConfigMap[] = []
  const access: ObjectAccess<V1ConfigMap> = {
    read: async () => structuredClone(current),
    replace: async (object) => {
      if (pending) {
        current = pending
        pending = undefined
      }
      if (object.metadata?.resourceVersion !== current.metadata?.resourceVersion)
        throw Object.assign(new Error('Conflict'), { code: 409 })
      writes.push(object)
      current = {
        ...object,
        metadata: { ...object.metadata, resourceVersion: String(Number(current.metadata!.resourceVersion) + 1) },
      }
      return current
    },
  }
  return { access, writes, current: () => current }
}
const setValue = (value: string) => (object: V1ConfigMap) => ({ ...object, data: { value } })

describe('the fence', () => {
  it.each([
    [3, undefined, true],
    [3, 3, true],
    [3, 2, true],
    [3, 4, false],
    [3, 'garbage', false],
  ])('a writer with token %s over a stored %s may write: %s', (token, stored, allowed) => {
    if (allowed) expect(() => checkFence(token, stored)).not.toThrow()
    else expect(() => checkFence(token, stored)).toThrow(FencedWriteError)
  })

  it('reads the token from the annotation', () => {
    expect(storedToken(map('1'))).toBeUndefined()
    expect(storedToken(map('1', '7'))).toBe(7)
    expect(storedToken(map('1', '-1'))).toBe('-1')
  })
})

describe('a fenced update', () => {
  it('stamps the writer’s token and sends the resourceVersion it read', async () => {
    const { access, writes } = store(map('5', '2'))
    const written = await fencedUpdate(access, 3, setValue('x'))
    expect(writes[0]!.metadata).toMatchObject({ resourceVersion: '5', annotations: { [FENCING_ANNOTATION]: '3' } })
    expect(written.data).toEqual({ value: 'x' })
  })

  it('refuses without writing when the object carries a newer token', async () => {
    const { access, writes } = store(map('5', '4'))
    await expect(fencedUpdate(access, 3, setValue('x'))).rejects.toThrow(FencedWriteError)
    expect(writes).toEqual([])
  })

  it('after a 409 reads again, and refuses when a newer leader wrote in between', async () => {
    const { access, writes, current } = store(map('5', '3'), map('6', '4', 'newer'))
    await expect(fencedUpdate(access, 3, setValue('late'))).rejects.toThrow(FencedWriteError)
    expect(writes).toEqual([])
    expect(current().data).toEqual({ value: 'newer' })
  })

  it('after a 409 from a write with an older token, checks again and writes', async () => {
    const { access, current } = store(map('5', '3'), map('6', '3', 'same leader'))
    await fencedUpdate(access, 4, setValue('mine'))
    expect(current().data).toEqual({ value: 'mine' })
    expect(current().metadata!.annotations![FENCING_ANNOTATION]).toBe('4')
  })
})
