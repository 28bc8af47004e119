// KEDA's CRDs: which manifests need them, and the check that a module file holds the CRD expected.
import type { KubernetesObject } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { KEDA_CRDS, kedaCrdFrom } from '../../scripts/lib/build/keda-crds.ts'
import { needsKedaCrds, needsPodGroupCrd } from '../../scripts/lib/step-prerequisites.ts'

const object = (apiVersion: string, kind: string): KubernetesObject => ({ apiVersion, kind, metadata: { name: 'x' } })
const crd = (name: string) => `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${name}
spec:
  group: keda.sh
`

describe('needsKedaCrds', () => {
  it('is true for manifests with a keda.sh object, whatever its kind or version', () => {
    const statefulSet = object('apps/v1', 'StatefulSet')
    expect(needsKedaCrds([statefulSet, object('keda.sh/v1alpha1', 'ScaledObject')])).toBe(true)
    expect(needsKedaCrds([object('keda.sh/v1alpha1', 'TriggerAuthentication')])).toBe(true)
    expect(needsKedaCrds([object('keda.sh/v1beta1', 'ScaledObject')])).toBe(true)
  })

  it('is false without one: an HPA, another group ending in keda.sh, a PodGroup', () => {
    expect(needsKedaCrds([])).toBe(false)
    expect(needsKedaCrds([object('autoscaling/v2', 'HorizontalPodAutoscaler')])).toBe(false)
    expect(needsKedaCrds([object('eventing.keda.sh/v1alpha1', 'CloudEventSource')])).toBe(false)
    const podGroup = object('scheduling.x-k8s.io/v1alpha1', 'PodGroup')
    expect(needsKedaCrds([podGroup])).toBe(false)
    expect(needsPodGroupCrd([podGroup])).toBe(true)
    expect(needsPodGroupCrd([object('keda.sh/v1alpha1', 'ScaledObject')])).toBe(false)
  })
})

describe('kedaCrdFrom', () => {
  it('takes each CRD from its module file', () => {
    for (const { name, file } of KEDA_CRDS) expect(kedaCrdFrom(crd(name), name, file).metadata!.name).toBe(name)
  })

  it('refuses a file that holds another CRD, or more than the one', () => {
    const name = 'scaledobjects.keda.sh'
    expect(() => kedaCrdFrom(crd('scaledjobs.keda.sh'), name, 'f.yaml')).toThrow(/exactly the CRD scaledobjects/)
    expect(() => kedaCrdFrom(crd(name) + crd('x.keda.sh'), name, 'f.yaml')).toThrow(/2 objects/)
  })
})
