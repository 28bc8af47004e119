// The step scripts' kit: pods of a workload, Ready, read-or-null, on a fake API client; least privilege judged.
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import type { CheckEnv } from '../../scripts/lib/checks/check.ts'
import {
  isReady,
  judgeAccess,
  list,
  listGranted,
  nameOf,
  orNull,
  podsOf,
  readySince,
} from '../../scripts/lib/checks/kit.ts'

const pod = (name: string, extra: Partial<V1Pod> = {}): V1Pod => ({
  metadata: { name, ...extra.metadata },
  status: extra.status,
})

describe('podsOf', () => {
  it("lists the workload's pods by app.kubernetes.io/name in the step's namespace, leaving out those being deleted", async () => {
    const asked: unknown[] = []
    const core = {
      listNamespacedPod: async (request: unknown) => {
        asked.push(request)
        return { items: [pod('a'), pod('b', { metadata: { deletionTimestamp: new Date() } })] }
      },
    } as unknown as CoreV1Api
    const pods = await podsOf({ namespace: 'lab-09', kube: { core } } as CheckEnv, 'router')
    expect(pods.map(nameOf)).toEqual(['a'])
    expect(asked).toEqual([{ namespace: 'lab-09', labelSelector: 'app.kubernetes.io/name=router' }])
  })
})

describe('Ready', () => {
  it('reads the Ready condition and when it became true', () => {
    const since = new Date('2026-01-01T00:00:00Z')
    const ready = pod('a', { status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: since }] } })
    const notReady = pod('b', { status: { conditions: [{ type: 'Ready', status: 'False' }] } })
    expect([isReady(ready), isReady(notReady), isReady(pod('c'))]).toEqual([true, false, false])
    expect(readySince(ready)).toBe(since)
    expect(readySince(notReady)).toBeUndefined()
  })
})

describe('orNull', () => {
  it('gives null for a 404 and passes any other error on', async () => {
    expect(await orNull(Promise.resolve(1))).toBe(1)
    expect(await orNull(Promise.reject(Object.assign(new Error('gone'), { code: 404 })))).toBeNull()
    await expect(orNull(Promise.reject(Object.assign(new Error('denied'), { code: 403 })))).rejects.toThrow('denied')
  })
})

describe('list', () => {
  it('joins names, or says none', () => {
    expect([list(['a', 'b']), list([])]).toEqual(['a, b', 'none'])
  })
})

describe('judgeAccess', () => {
  const describeAccess = (a: { verb: string }) => a.verb
  const needed = [{ verb: 'get' }, { verb: 'watch' }]
  const forbidden = [{ verb: 'delete' }, { verb: 'update' }]

  it('returns the needed accesses refused and the forbidden ones allowed, with the reason', () => {
    const answers = [
      { verb: 'get', allowed: true },
      { verb: 'watch', allowed: false },
      { verb: 'delete', allowed: true, reason: 'RBAC: allowed by RoleBinding "x"' },
      { verb: 'update', allowed: false },
    ]
    const { refused, granted } = judgeAccess(answers, needed, forbidden, describeAccess)
    expect(refused).toEqual([{ verb: 'watch' }])
    expect(listGranted(granted, describeAccess)).toEqual(['delete (RBAC: allowed by RoleBinding "x")'])
  })

  it('finds nothing wrong when exactly the needed accesses are allowed', () => {
    const answers = [...needed, ...forbidden].map((a) => ({ ...a, allowed: needed.includes(a) }))
    expect(judgeAccess(answers, needed, forbidden, describeAccess)).toEqual({ refused: [], granted: [] })
  })

  it('refuses to judge an access nobody asked about', () => {
    expect(() => judgeAccess([{ verb: 'get', allowed: true }], needed, [], describeAccess)).toThrow(
      'no answer recorded for: watch',
    )
  })
})
