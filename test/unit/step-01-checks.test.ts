// Every step-01 check judged on observations: the passing ones recorded from a kwok cluster
// (fixtures/step-01-observations.kwok.json), the failing ones derived from them the way
// learners' mistakes change what the cluster shows.
import { describe, expect, it } from 'vitest'
import {
  checks,
  createdInOrder,
  ownClaims,
  podIndexLabels,
  podNames,
  randomDeploymentNames,
  replacement,
  replicasServe,
  type ClaimObservation,
  type OrderObservation,
  type ReplacementObservation,
} from '../../steps/01-basic-statefulset/test-01-statefulset.ts'
import { failure, recordedFor } from './recorded.ts'
import recorded from './fixtures/step-01-observations.kwok.json' with { type: 'json' }

describe('step 01 checks on observations recorded from a cluster', () => {
  it('every api check passes on what a correct step shows', () => {
    for (const item of checks.filter((c) => c.needs === 'api')) {
      expect(item.evaluate(recordedFor(item, recorded)), item.title).toEqual({ pass: true })
    }
  })

  it('titles state outcomes and every check is listed once', () => {
    expect(new Set(checks.map((c) => c.title)).size).toBe(checks.length)
    expect(checks.map((c) => c.needs)).toEqual(['api', 'api', 'api', 'api', 'api', 'api', 'pods'])
  })
})

describe('pod names', () => {
  it('fails when a replica is missing, pointing at the StatefulSet events', () => {
    const verdict = failure(podNames.evaluate(['llama-3-70b-0', 'llama-3-70b-1']))
    expect(verdict.seen).toBe('llama-3-70b-0, llama-3-70b-1')
    expect(verdict.hint).toContain('describe statefulset')
    // The causes that stop an OrderedReady set at its first pods (the mutation suite's storage-class and readiness-probe mistakes).
    expect(verdict.hint).toContain('storageClassName')
    expect(verdict.hint).toContain('readiness probe')
  })

  it('fails when pods have other names, asking whether this is a StatefulSet', () => {
    const verdict = failure(
      podNames.evaluate(['llama-3-70b-7f9c-abcde', 'llama-3-70b-0', 'llama-3-70b-1', 'llama-3-70b-2']),
    )
    expect(verdict.hint).toContain('not ordinals')
  })
})

describe('creation order', () => {
  const base = () => recordedFor(createdInOrder, recorded)

  it('fails on podManagementPolicy Parallel and names it', () => {
    const verdict = failure(createdInOrder.evaluate({ ...base(), policy: 'Parallel' }))
    expect(verdict.seen).toContain('Parallel')
    expect(verdict.hint).toContain('OrderedReady')
  })

  it('fails when a pod was created before the previous one was Ready', () => {
    const observation: OrderObservation = {
      policy: 'OrderedReady',
      pods: [
        { name: 'llama-3-70b-0', created: '2026-01-01T00:00:00.000Z', ready: '2026-01-01T00:00:30.000Z' },
        { name: 'llama-3-70b-1', created: '2026-01-01T00:00:01.000Z', ready: '2026-01-01T00:00:31.000Z' },
        { name: 'llama-3-70b-2', created: '2026-01-01T00:00:32.000Z', ready: '2026-01-01T00:00:40.000Z' },
      ],
    }
    const verdict = failure(createdInOrder.evaluate(observation))
    expect(verdict.expected).toContain('llama-3-70b-1 created after llama-3-70b-0 was Ready')
    expect(verdict.hint).toContain('Parallel')
  })

  it('accepts a lower ordinal that was replaced later', () => {
    const observation: OrderObservation = {
      policy: 'OrderedReady',
      pods: [
        { name: 'llama-3-70b-0', created: '2026-01-01T00:00:00.000Z', ready: '2026-01-01T00:00:05.000Z' },
        { name: 'llama-3-70b-1', created: '2026-01-01T00:09:00.000Z', ready: '2026-01-01T00:09:05.000Z' },
        { name: 'llama-3-70b-2', created: '2026-01-01T00:00:10.000Z', ready: '2026-01-01T00:00:15.000Z' },
      ],
    }
    expect(createdInOrder.evaluate(observation)).toEqual({ pass: true })
  })
})

describe('volume claims', () => {
  it('fails when the volume is not from a claim template', () => {
    const observation = recordedFor(ownClaims, recorded) as ClaimObservation
    delete observation.pods[1]!.claim
    expect(failure(ownClaims.evaluate(observation)).hint).toContain('volumeClaimTemplate')
  })

  it('fails when a claim is Pending, pointing at the StorageClass', () => {
    const observation = recordedFor(ownClaims, recorded) as ClaimObservation
    observation.claims[2]!.phase = 'Pending'
    const verdict = failure(ownClaims.evaluate(observation))
    expect(verdict.seen).toBe('model-cache-llama-3-70b-2 Pending')
    expect(verdict.hint).toContain('StorageClass')
  })
})

describe('pod-index label', () => {
  it('fails when a pod lacks the label, naming the Kubernetes version that sets it', () => {
    const verdict = failure(
      podIndexLabels.evaluate([
        { name: 'llama-3-70b-0', index: '0' },
        { name: 'llama-3-70b-1' },
        { name: 'llama-3-70b-2', index: '2' },
      ]),
    )
    expect(verdict.seen).toBe('llama-3-70b-1: no label')
    expect(verdict.hint).toContain('1.28')
  })
})

describe('replacement', () => {
  const base = () => recordedFor(replacement, recorded) as ReplacementObservation

  it('fails while the old pod is still there', () => {
    const observation = base()
    observation.after!.uid = observation.before.uid
    expect(failure(replacement.evaluate(observation)).hint).toContain('not happened yet')
  })

  it('fails when the replacement got a new claim', () => {
    const observation = base()
    observation.after!.claimUid = 'another-uid'
    expect(failure(replacement.evaluate(observation)).hint).toContain('whenDeleted')
  })

  it('fails when no pod came back', () => {
    expect(failure(replacement.evaluate({ before: base().before })).hint).toContain('same name')
  })
})

describe('Deployment names', () => {
  it('fails when the comparison Deployment is missing', () => {
    expect(failure(randomDeploymentNames.evaluate([])).hint).toContain('20-deployment.yaml')
  })

  it('fails on ordinal names, as a StatefulSet would give', () => {
    const verdict = failure(randomDeploymentNames.evaluate([{ name: 'llama-3-70b-stateless-0', index: '0' }]))
    expect(verdict.hint).toContain('Only StatefulSets give ordinals')
  })
})

describe('replicas serve', () => {
  it('passes when every pod answers /v1/models', () => {
    const body = JSON.stringify({ object: 'list', data: [] })
    expect(replicasServe.evaluate([0, 1, 2].map((i) => ({ name: `llama-3-70b-${i}`, status: 200, body })))).toEqual({
      pass: true,
    })
  })

  it('fails naming the pod that does not answer, and points at the port', () => {
    const body = JSON.stringify({ object: 'list', data: [] })
    const verdict = failure(
      replicasServe.evaluate([
        { name: 'llama-3-70b-0', status: 200, body },
        { name: 'llama-3-70b-1', status: 503, body: 'error trying to reach service' },
      ]),
    )
    expect(verdict.seen).toBe('llama-3-70b-1: 503')
    expect(verdict.hint).toContain('8000')
  })
})
