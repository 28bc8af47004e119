// A learner's real situation first: a step that is not on the cluster is said in one line with
// the command that applies it, and a 404 through the pods proxy says who answered it: the API
// server (no such pod) or the model server (no such model).
import { describe, expect, it } from 'vitest'
import { NAMESPACE } from '../../scripts/lib/checks/check.ts'
import { apiServerAnswer } from '../../scripts/lib/checks/kit.ts'
import { notApplied, type Presence } from '../../scripts/lib/step-presence.ts'
import { leaderServes, workerRefers } from '../../steps/03-multi-node-tp/test-03-multi-node.ts'

const step03: Presence = {
  step: '03',
  namespace: 'lab-03',
  namespaceState: 'present',
  workloads: ['StatefulSet/llama-3-70b'],
  missing: [],
}

describe('a step that is not applied', () => {
  it('says nothing when every workload is there', () => {
    expect(notApplied(step03)).toBeUndefined()
  })

  it('names the missing namespace, why it goes, and the command that applies the step', () => {
    const line = notApplied({ ...step03, namespaceState: 'absent', missing: step03.workloads })!
    expect(line).toBe(
      'step 03 is not applied: namespace lab-03 does not exist (running another step removes it, to free the GPUs); apply it with: npm run step 03',
    )
    expect(line).not.toContain('\n')
  })

  it('says a namespace being deleted is not there either', () => {
    expect(notApplied({ ...step03, namespaceState: 'terminating', missing: step03.workloads })).toContain(
      'namespace lab-03 is being deleted',
    )
  })

  it('tells an emptied namespace from a partly applied step', () => {
    expect(notApplied({ ...step03, missing: ['StatefulSet/llama-3-70b'] })).toBe(
      'step 03 is not applied: namespace lab-03 holds none of its workloads (StatefulSet/llama-3-70b); apply it with: npm run step 03',
    )
    const two = {
      ...step03,
      workloads: ['StatefulSet/llama-3-70b', 'Deployment/router'],
      missing: ['Deployment/router'],
    }
    expect(notApplied(two)).toBe(
      'step 03 is only partly applied: namespace lab-03 lacks Deployment/router; apply it with: npm run step 03',
    )
  })
})

// What each side answers, as the pods proxy passes it on.
const API_SERVER_404 = {
  status: 404,
  body: JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'pods "llama-3-70b-0" not found',
    reason: 'NotFound',
    details: { name: 'llama-3-70b-0', kind: 'pods' },
    code: 404,
  }),
}
const MODEL_SERVER_404 = {
  status: 404,
  body: JSON.stringify({
    error: {
      message: 'The model `llama` does not exist.',
      type: 'NotFoundError',
      param: 'model',
      code: 'model_not_found',
    },
  }),
}

describe('who answered a 404 through the pods proxy', () => {
  it('the API server answers with a Kubernetes Status; the model server does not', () => {
    expect(apiServerAnswer(API_SERVER_404)).toEqual({ reason: 'NotFound', message: 'pods "llama-3-70b-0" not found' })
    expect(apiServerAnswer(MODEL_SERVER_404)).toBeUndefined()
    expect(apiServerAnswer({ status: 200, body: '{"kind":"Status"}' })).toBeUndefined()
    expect(apiServerAnswer({ status: 502, body: 'not json' })).toBeUndefined()
  })

  it("step 03's completion check blames a missing pod, not the model name, when the API server answered", () => {
    const verdict = leaderServes.evaluate({ pod: 'llama-3-70b-0', ...API_SERVER_404 })
    expect(verdict.pass).toBe(false)
    if (verdict.pass) return
    expect(verdict.hint).toBe(
      `the API server answered, not llama-3-70b-0: pods "llama-3-70b-0" not found; is the step applied? kubectl -n ${NAMESPACE} get pod llama-3-70b-0`,
    )
    expect(verdict.hint).not.toContain('model')
  })

  it("step 03's completion check names the served model name when the model server answered", () => {
    const verdict = leaderServes.evaluate({ pod: 'llama-3-70b-0', ...MODEL_SERVER_404 })
    expect(verdict.pass).toBe(false)
    if (verdict.pass) return
    expect(verdict.hint).toContain('the model server knows no such model')
    expect(verdict.hint).toContain('--served-model-name')
  })

  it("step 03's worker check says the pod is missing when the API server answered", () => {
    const verdict = workerRefers.evaluate({ pod: 'llama-3-70b-1', ...API_SERVER_404 })
    expect(verdict.pass).toBe(false)
    if (verdict.pass) return
    expect(verdict.hint).toContain('the API server answered, not llama-3-70b-1')
  })
})
