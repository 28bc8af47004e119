import type { KubernetesObject } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { applyJsonPatch, PatchError, pointerTokens } from '../../scripts/lib/json-patch.ts'
import { applyPatches } from '../../scripts/lib/mutations/patch.ts'

const objects = (): KubernetesObject[] => [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab-09' } },
  {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'llama', namespace: 'lab-09' },
    spec: {
      serviceName: 'llama',
      template: {
        spec: {
          containers: [
            { name: 'server', env: [{ name: 'RANK', value: '0' }], resources: { limits: { 'nvidia.com/gpu': 4 } } },
          ],
        },
      },
    },
  } as KubernetesObject,
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'llama', namespace: 'lab-09' } },
]
const spec = (object: KubernetesObject | undefined) =>
  (
    object as unknown as {
      spec: {
        serviceName?: string
        template: {
          spec: {
            containers: { env: { name: string; value: string }[]; resources: { limits: Record<string, number> } }[]
          }
        }
      }
    }
  ).spec

describe('pointerTokens', () => {
  it('splits a JSON Pointer and unescapes ~1 and ~0', () => {
    expect(pointerTokens('/spec/limits/nvidia.com~1gpu/a~0b')).toEqual(['spec', 'limits', 'nvidia.com/gpu', 'a~b'])
    expect(() => pointerTokens('spec')).toThrow(PatchError)
  })
})

describe('applyPatches', () => {
  it('replaces, adds and removes, leaving the input as it was', () => {
    const input = objects()
    const result = applyPatches(input, [
      {
        kind: 'StatefulSet',
        name: 'llama',
        ops: [
          { op: 'replace', path: '/spec/serviceName', value: 'other' },
          { op: 'add', path: '/spec/template/spec/containers/0/env/-', value: { name: 'WORLD_SIZE', value: '8' } },
          { op: 'add', path: '/spec/template/spec/containers/0/env/0', value: { name: 'FIRST', value: '1' } },
          { op: 'remove', path: '/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu' },
        ],
      },
    ])
    const set = spec(result[1])
    expect(set.serviceName).toBe('other')
    expect(set.template.spec.containers[0]!.env.map((e) => e.name)).toEqual(['FIRST', 'RANK', 'WORLD_SIZE'])
    expect(set.template.spec.containers[0]!.resources.limits).toEqual({})
    expect(spec(input[1]).serviceName).toBe('llama')
    expect(spec(input[1]).template.spec.containers[0]!.resources.limits).toEqual({ 'nvidia.com/gpu': 4 })
  })

  it('deletes a whole object, keeping the order of the others', () => {
    const result = applyPatches(objects(), [{ kind: 'Service', name: 'llama', delete: true }])
    expect(result.map((o) => o.kind)).toEqual(['Namespace', 'StatefulSet'])
  })

  it('names the object and the path that does not exist, so a list cannot rot silently', () => {
    expect(() =>
      applyPatches(objects(), [
        {
          kind: 'StatefulSet',
          name: 'llama',
          ops: [{ op: 'replace', path: '/spec/podManagementPolicy', value: 'Parallel' }],
        },
      ]),
    ).toThrow(
      'StatefulSet/llama: replace /spec/podManagementPolicy: no such path (nothing at /spec/podManagementPolicy)',
    )
    expect(() =>
      applyPatches(objects(), [
        {
          kind: 'StatefulSet',
          name: 'llama',
          ops: [{ op: 'add', path: '/spec/selector/matchLabels/app', value: 'x' }],
        },
      ]),
    ).toThrow('no such path (nothing at /spec/selector)')
    expect(() =>
      applyPatches(objects(), [
        { kind: 'StatefulSet', name: 'llama', ops: [{ op: 'remove', path: '/spec/template/spec/containers/1' }] },
      ]),
    ).toThrow('past the end')
  })

  it('names an object the step does not have', () => {
    expect(() => applyPatches(objects(), [{ kind: 'Deployment', name: 'llama', delete: true }])).toThrow(
      'Deployment/llama: the step has no such object (it has Namespace/lab-09, StatefulSet/llama, Service/llama)',
    )
  })

  it('test pins what an index points at', () => {
    const pinned = (value: string) =>
      applyPatches(objects(), [
        {
          kind: 'StatefulSet',
          name: 'llama',
          ops: [{ op: 'test', path: '/spec/template/spec/containers/0/env/0/name', value }],
        },
      ])
    expect(() => pinned('RANK')).not.toThrow()
    expect(() => pinned('WORLD_SIZE')).toThrow('expected "WORLD_SIZE", found "RANK": the manifest changed')
  })

  it('refuses to change an object’s kind or name', () => {
    expect(() =>
      applyPatches(objects(), [
        { kind: 'Service', name: 'llama', ops: [{ op: 'replace', path: '/metadata/name', value: 'x' }] },
      ]),
    ).toThrow('must not change')
  })
})

describe('applyJsonPatch', () => {
  it('applies operations to a copy, with RFC 6901 escapes in the pointer', () => {
    const input = { a: [{ x: 1 }, { x: 2 }], 'b/c': { '~d': 1 } }
    const output = applyJsonPatch(input, [
      { op: 'replace', path: '/a/1', value: { y: 3 } },
      { op: 'replace', path: '/b~1c/~0d', value: 2 },
    ])
    expect(output).toEqual({ a: [{ x: 1 }, { y: 3 }], 'b/c': { '~d': 2 } })
    expect(input.a[1]).toEqual({ x: 2 })
  })

  it('names the path that does not exist', () => {
    expect(() => applyJsonPatch({ a: [] }, [{ op: 'replace', path: '/a/0', value: 1 }])).toThrow(
      /replace \/a\/0: index 0 is past the end of an array of 0/,
    )
  })
})
