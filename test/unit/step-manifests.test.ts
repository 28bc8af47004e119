// Every step's manifests, checked without a cluster: against the Kubernetes API schemas
// (kubernetes-models), and against the lab's step contract and production habits.
import type { KubernetesObject, V1PodTemplateSpec } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { PROMETHEUS_IMAGE } from '../../scripts/lib/build/prometheus.ts'
import { IMAGE } from '../../scripts/lib/image.ts'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { PROJECT } from '../../scripts/lib/project.ts'
import { listSteps } from '../../scripts/lib/steps.ts'

/** Kinds with no namespace that a step may create (its cleanup deletes them by the part-of label). */
const CLUSTER_SCOPED = ['PriorityClass', 'ClusterRole', 'ClusterRoleBinding', 'APIService']

/** Validates one object with the kubernetes-models class for its apiVersion and kind. */
async function validate(object: KubernetesObject): Promise<void> {
  // scheduler-plugins' PodGroup has no kubernetes-models class; its CRD is checked by the API server.
  if (object.apiVersion === 'scheduling.x-k8s.io/v1alpha1' && object.kind === 'PodGroup') {
    const minMember = (object as { spec?: { minMember?: unknown } }).spec?.minMember
    if (!Number.isInteger(minMember) || (minMember as number) < 1)
      throw new Error(`PodGroup ${object.metadata?.name}: spec.minMember must be a positive integer`)
    return
  }
  const module = (await import(/* @vite-ignore */ `kubernetes-models/${object.apiVersion}`)) as Record<
    string,
    new (data: unknown) => { validate(): void }
  >
  const Model = module[object.kind!]
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`)
  new Model(object).validate()
}

function podTemplate(object: KubernetesObject): V1PodTemplateSpec | undefined {
  return (object as { spec?: { template?: V1PodTemplateSpec } }).spec?.template
}

const steps = await listSteps()

describe('the schema validation itself', () => {
  it('rejects what the API server would reject', async () => {
    const broken = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'x' },
      spec: { replicas: 'three', selector: {}, template: {} },
    }
    await expect(validate(broken)).rejects.toThrow(/replicas/)
  })
})

describe.each(steps.map((step) => [step.folder, step] as const))('steps/%s', (_folder, step) => {
  it('validates against the Kubernetes API schemas', async () => {
    for (const object of await readManifests(step.dir)) await validate(object)
  })

  it('creates one namespace, puts everything in it, and labels everything as part of the lab', async () => {
    const objects = await readManifests(step.dir)
    const namespaces = objects.filter((o) => o.kind === 'Namespace')
    expect(namespaces).toHaveLength(1)
    expect(objects[0]!.kind, 'the namespace is applied first').toBe('Namespace')
    const namespace = namespaces[0]!.metadata!.name
    expect(namespace).toBe(`lab-${step.id}`)
    for (const object of objects) {
      expect(object.metadata?.labels?.['app.kubernetes.io/part-of'], `${object.kind}/${object.metadata?.name}`).toBe(
        PROJECT,
      )
      if (CLUSTER_SCOPED.includes(object.kind!))
        expect(object.metadata?.namespace, `${object.kind}/${object.metadata?.name}`).toBeUndefined()
      else if (object.kind !== 'Namespace')
        expect(object.metadata?.namespace, `${object.kind}/${object.metadata?.name}`).toBe(namespace)
    }
  })

  it("pods run the lab image (or the lab's Prometheus) by its fixed tag, with requests, probes and a restricted security context", async () => {
    for (const object of await readManifests(step.dir)) {
      const template = podTemplate(object)
      if (!template) continue
      const where = `${object.kind}/${object.metadata!.name}`
      const pod = template.spec!
      expect(template.metadata?.labels?.['app.kubernetes.io/name'], where).toBeTruthy()
      expect(pod.terminationGracePeriodSeconds, where).toBeGreaterThan(0)
      expect(pod.securityContext, where).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      })
      for (const container of pod.containers) {
        const at = `${where} container ${container.name}`
        expect(container.image, at).toBe(container.name === 'prometheus' ? PROMETHEUS_IMAGE : IMAGE)
        expect(container.imagePullPolicy, at).toBe('IfNotPresent')
        expect(container.resources?.requests?.cpu, at).toBeDefined()
        expect(container.resources?.requests?.memory, at).toBeDefined()
        expect(container.resources?.limits?.memory, at).toBeDefined()
        expect(container.readinessProbe, at).toBeDefined()
        expect(container.livenessProbe, at).toBeDefined()
        expect(container.securityContext, at).toMatchObject({
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        })
        const gpus = container.resources?.limits?.['nvidia.com/gpu']
        const requested = container.resources?.requests?.['nvidia.com/gpu']
        if (requested !== undefined) expect(requested, `${at}: GPU requests must equal limits`).toBe(gpus)
      }
    }
  })
})
