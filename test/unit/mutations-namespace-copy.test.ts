import type { KubernetesObject } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { asInStep, copyNamespace, inNamespace } from '../../scripts/lib/mutations/namespace-copy.ts'
import { listSteps, stepNamespace } from '../../scripts/lib/steps.ts'

const steps = await listSteps()

/** Every string value of an object, with where it is. */
function strings(value: unknown, path = ''): [string, string][] {
  if (typeof value === 'string') return [[path, value]]
  if (Array.isArray(value)) return value.flatMap((item, i) => strings(item, `${path}/${i}`))
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([key, item]) => strings(item, `${path}/${key}`))
  return []
}

const find = (objects: KubernetesObject[], kind: string, name?: string) =>
  objects.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name)) as unknown as Record<
    string,
    never
  >

describe('copyNamespace', () => {
  it("names a copy after the step's namespace and the run", () => {
    expect(copyNamespace('lab-01', 'parallel-pod-management')).toBe('lab-01-parallel-pod-management')
  })

  it('cuts a long name to one DNS label (63 characters) without a trailing hyphen', () => {
    const name = copyNamespace('lab-05', `${'a'.repeat(55)}-b-more`)
    expect(name.length).toBeLessThanOrEqual(63)
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
  })
})

describe.each(steps.map((step) => [step.folder, step] as const))('steps/%s in a copy', (_folder, step) => {
  it('holds the same objects, in the copy: no value names the step’s namespace any more', async () => {
    const objects = await readManifests(step.dir)
    const namespace = await stepNamespace(step)
    const copy = copyNamespace(namespace, 'some-mistake')
    const copied = inNamespace(objects, namespace, copy)
    expect(copied.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual(
      objects.map((o) => `${o.kind}/${o.kind === 'Namespace' ? copy : o.metadata?.name}`),
    )
    // Objects outside any namespace (step 06's PriorityClasses and cluster roles) stay outside.
    copied.forEach((object, i) => {
      if (objects[i]!.metadata?.namespace) expect(object.metadata?.namespace).toBe(copy)
      else expect(object.metadata?.namespace).toBeUndefined()
    })
    const leftovers = copied
      .flatMap((o) => strings(o, `${o.kind}/${o.metadata?.name}`))
      .filter(([, value]) => new RegExp(`(^|[^a-z0-9-])${namespace}($|[^a-z0-9-])`).test(value))
    expect(leftovers).toEqual([])
    // Named back, the copy is the step again: nothing else was touched.
    expect(copied.map((o) => JSON.parse(asInStep(JSON.stringify(o), copy, namespace)))).toEqual(objects)
  })
})

describe('inNamespace', () => {
  it("renames DNS names and a (Cluster)RoleBinding's subjects, and leaves a value that only begins with the name", async () => {
    const step03 = steps.find((s) => s.id === '03')!
    const copied = inNamespace(await readManifests(step03.dir), 'lab-03', 'lab-03-copy')
    const statefulSet = JSON.stringify(find(copied, 'StatefulSet'))
    expect(statefulSet).toContain('"value":"llama-3-70b-0.llama-3-70b.lab-03-copy.svc.cluster.local"')
    expect(JSON.stringify(find(copied, 'Secret'))).toContain('lab-03-group-secret-change-me')

    const step06 = steps.find((s) => s.id === '06')!
    const cluster = find(inNamespace(await readManifests(step06.dir), 'lab-06', 'lab-06-copy'), 'ClusterRoleBinding')
    expect(JSON.stringify(cluster)).toContain('"namespace":"lab-06-copy"')

    const step04 = steps.find((s) => s.id === '04')!
    const binding = find(inNamespace(await readManifests(step04.dir), 'lab-04', 'lab-04-copy'), 'RoleBinding')
    expect(JSON.stringify(binding)).toContain('"namespace":"lab-04-copy"')
    expect(JSON.stringify(binding)).not.toMatch(/"lab-04"/)
  })

  it('leaves the objects it was given as they were', () => {
    const objects: KubernetesObject[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab-09' } }]
    inNamespace(objects, 'lab-09', 'lab-09-x')
    expect(objects[0]!.metadata!.name).toBe('lab-09')
  })
})

describe('asInStep', () => {
  it("writes the step's namespace for the copy's in a hint, and only where the copy is named whole", () => {
    const copy = 'lab-02-service-name-mismatch'
    expect(asInStep(`kubectl -n ${copy} get svc; see ${copy}-other`, copy, 'lab-02')).toBe(
      `kubectl -n lab-02 get svc; see ${copy}-other`,
    )
    expect(asInStep(`system:serviceaccount:${copy}:router may not`, copy, 'lab-02')).toBe(
      'system:serviceaccount:lab-02:router may not',
    )
  })
})
