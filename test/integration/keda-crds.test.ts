// KEDA's CRDs, taken from its Go module at the pinned version, on the real API server (the
// shared kwok cluster): installed as the runner installs them, they make the API server accept
// a valid ScaledObject and refuse invalid ones with the reason KEDA's schema gives. No KEDA
// operator runs: this is the API's validation alone.
import type { KubernetesObject } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { installKedaCrds } from '../../scripts/lib/build/keda-crds.ts'
import { apply, connect } from '../../scripts/lib/kube.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'

const kube = connect(inject('kubeContext'))
const namespace = 'keda-crds'
const quiet = () => {}

/** A ScaledObject on the serving StatefulSet, scaled on the frontend's queue through a Prometheus trigger. */
function scaledObject(spec: Record<string, unknown> = {}): KubernetesObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'llama', namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'llama' },
      minReplicaCount: 1,
      maxReplicaCount: 4,
      triggers: [
        {
          type: 'prometheus',
          metadata: {
            serverAddress: 'http://prometheus.monitoring:9090',
            query: 'sum(serving_lab_frontend_queued_requests)',
            threshold: '4',
          },
        },
      ],
      ...spec,
    },
  } as KubernetesObject
}

beforeAll(async () => {
  await deleteNamespaces(kube, [namespace], quiet)
  await installKedaCrds(kube, quiet)
  await apply(kube, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as KubernetesObject])
}, 120_000)
afterAll(() => deleteNamespaces(kube, [namespace], quiet))

describe("KEDA's CRDs on the API server", () => {
  it('accepts a valid ScaledObject, and a TriggerAuthentication', async () => {
    const [applied] = await apply(kube, [scaledObject()])
    expect((applied as { spec: { maxReplicaCount: number } }).spec.maxReplicaCount).toBe(4)
    await apply(kube, [
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'TriggerAuthentication',
        metadata: { name: 'prometheus', namespace },
        spec: { secretTargetRef: [{ parameter: 'bearerToken', name: 'prometheus-token', key: 'token' }] },
      } as KubernetesObject,
    ])
  })

  it.each([
    ['no triggers', { triggers: undefined }, /spec.triggers: Required value/],
    [
      'a trigger without a type',
      { triggers: [{ metadata: { query: 'q' } }] },
      /spec.triggers\[0\].type: Required value/,
    ],
    ['a replica count that is not a number', { maxReplicaCount: 'four' }, /spec.maxReplicaCount: expected numeric/],
    ['a negative minimum', { minReplicaCount: -1 }, /spec.minReplicaCount: Invalid value/],
    [
      'a minimum above the maximum',
      { minReplicaCount: 5, maxReplicaCount: 2 },
      /minReplicaCount must be less than or equal to maxReplicaCount/,
    ],
  ])('refuses a ScaledObject with %s', async (_what, spec, reason) => {
    await expect(apply(kube, [scaledObject(spec)], { dryRun: true })).rejects.toThrow(reason)
  })
})
