import { describe, expect, it } from 'vitest'
import { POD_GROUP_CRD_NAME, podGroupCrdFrom } from '../../scripts/lib/build/pod-group-crd.ts'

const crd = (name: string) => `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${name}
spec:
  group: scheduling.x-k8s.io
`

describe('podGroupCrdFrom', () => {
  it('takes the PodGroup CRD from the module file', () => {
    expect(podGroupCrdFrom(crd(POD_GROUP_CRD_NAME), 'crd.yaml').metadata!.name).toBe('podgroups.scheduling.x-k8s.io')
  })

  it('refuses a file that holds another CRD, or more than the one', () => {
    expect(() => podGroupCrdFrom(crd('elasticquotas.scheduling.x-k8s.io'), 'crd.yaml')).toThrow(/exactly the CRD/)
    expect(() => podGroupCrdFrom(crd(POD_GROUP_CRD_NAME) + crd('x.example.com'), 'crd.yaml')).toThrow(/2 objects/)
  })
})
