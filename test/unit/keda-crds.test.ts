// KEDA's CRDs: which manifests need them.
import type { KubernetesObject } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { needsKedaCrds, needsPodGroupCrd } from '../../scripts/lib/step-prerequisites.ts'

const object = (apiVersion: string, kind: string): KubernetesObject => ({ apiVersion, kind, metadata: { name: 'x' } })

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
