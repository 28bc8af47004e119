// Step 07's checks judged on observations written out by hand: what passes, and what each
// mistake looks like to the check, with the hint that names the cause.
import { describe, expect, it } from 'vitest'
import type { Verdict } from '../../scripts/lib/checks/check.ts'
import { describeAccess } from '../../scripts/lib/checks/kit.ts'
import {
  adapterMayDo,
  adapterMayNotDo,
  autoscalerDeclared,
  autoscalerFollows,
  graceCoversDrain,
  leastPrivilege,
  loadScalesUp,
  metricServed,
  quietScalesDown,
  variantsAdmitted,
  type AutoscalerObservation,
} from '../../steps/07-autoscaling/test-07-autoscaling.ts'

const hintOf = (verdict: Verdict) => (verdict.pass ? '' : verdict.hint)
const metric = { name: 'waiting-requests', labelSelector: 'kubernetes.io/service-name in (frontend,llama)' }

describe('step 07: the metric through the aggregator', () => {
  it('passes on a list with a value', () => {
    expect(metricServed.evaluate({ metric, status: 200, kind: 'ExternalMetricValueList', items: 1 }).pass).toBe(true)
  })

  it('names the cause of each failure', () => {
    expect(hintOf(metricServed.evaluate({ metric, status: 200, kind: 'ExternalMetricValueList', items: 0 }))).toMatch(
      /selector/,
    )
    const unserved = { ...metric, name: 'vllm-num-requests-waiting' }
    expect(hintOf(metricServed.evaluate({ metric: unserved, status: 404, message: 'could not find' }))).toContain(
      'does not serve a metric named vllm-num-requests-waiting',
    )
    const x509 = 'x509: certificate signed by unknown authority'
    expect(hintOf(metricServed.evaluate({ metric, status: 503, message: x509 }))).toMatch(/caBundle/)
    expect(hintOf(metricServed.evaluate({ metric: null, status: 0 }))).toMatch(/50-autoscaler.yaml/)
  })

  it("shows the aggregator's own diagnosis when it holds the APIService unavailable", () => {
    const available = 'Available=False (FailedDiscoveryCheck: failing or missing response from https://10.96.0.12:443)'
    const verdict = metricServed.evaluate({ metric, status: 503, message: 'service unavailable', available })
    expect(verdict.pass).toBe(false)
    expect(verdict.pass ? '' : verdict.seen).toBe(`503: service unavailable; the APIService: ${available}`)
  })
})

describe('step 07: the HPA as declared', () => {
  const hpa: NonNullable<AutoscalerObservation['hpa']> = {
    target: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'llama' },
    targetExists: true,
    minReplicas: 1,
    maxReplicas: 4,
    metric: { type: 'External', name: 'waiting-requests', target: 'AverageValue' },
    scaleUpWindow: 0,
    scaleDownWindow: 60,
  }

  it('passes as the step declares it', () => {
    expect(autoscalerDeclared.evaluate({ hpa }).pass).toBe(true)
  })

  it('catches a wrong target, a flapping scale-down and a slow scale-up', () => {
    const deployment = { ...hpa, target: { ...hpa.target, kind: 'Deployment' }, targetExists: false }
    expect(hintOf(autoscalerDeclared.evaluate({ hpa: deployment }))).toMatch(/scales nothing/)
    expect(hintOf(autoscalerDeclared.evaluate({ hpa: { ...hpa, scaleDownWindow: 0 } }))).toMatch(/flapping/)
    expect(hintOf(autoscalerDeclared.evaluate({ hpa: { ...hpa, scaleUpWindow: 120 } }))).toMatch(/at once/)
    const value = { ...hpa, metric: { type: 'External', name: 'waiting-requests', target: 'Value' } }
    expect(hintOf(autoscalerDeclared.evaluate({ hpa: value }))).toMatch(/AverageValue/)
  })
})

describe('step 07: the HPA follows the queue', () => {
  it('passes when the status reports the metric and wants more than one replica', () => {
    const seen = { target: 'http://10.0.0.5:4100', value: '6', currentReplicas: 1, desiredReplicas: 3 }
    expect(autoscalerFollows.evaluate(seen).pass).toBe(true)
  })

  it('fails with the HPA condition when no metric is reported, and when it wants one replica', () => {
    const inactive = { status: 'False', message: 'the HPA was unable to compute the replica count' }
    const verdict = autoscalerFollows.evaluate({ target: 'pod llama-0', scalingActive: inactive })
    expect(verdict.pass ? '' : verdict.seen).toContain('unable to compute')
    const still = autoscalerFollows.evaluate({
      target: 'pod llama-0',
      value: '0',
      currentReplicas: 1,
      desiredReplicas: 1,
    })
    expect(hintOf(still)).toMatch(/10 %/)
  })
})

describe('step 07: the way out', () => {
  it('passes when the grace period covers preStop, the longest request and the drain', () => {
    expect(graceCoversDrain.evaluate({ grace: 50, preStop: 5, longestRequest: 20, drain: 20 }).pass).toBe(true)
  })

  it('fails when it does not, with the sum', () => {
    const verdict = graceCoversDrain.evaluate({ grace: 30, preStop: 5, longestRequest: 20, drain: 20 })
    expect(verdict.pass ? '' : verdict.expected).toContain('= 45')
  })

  it('counts the failed requests of the steady client, and says how long the scale-down took', () => {
    const replicas = { wanted: 1, ready: 1 }
    const seen = { replicas, sinceBurst: 140, sent: 300, answered: 298 }
    const passed = quietScalesDown.evaluate({ ...seen, failed: [] })
    expect(passed).toEqual({ pass: true, detail: expect.stringContaining('140 s after the burst') })
    expect(passed.pass && passed.detail).toContain('300 sent, 298 answered, 0 failed')
    const lost = quietScalesDown.evaluate({ ...seen, failed: ['502 upstream_unreachable'] })
    expect(lost.pass ? '' : lost.seen).toContain('1 failed')
    expect(quietScalesDown.evaluate({ ...seen, replicas: { wanted: 2, ready: 2 }, failed: [] }).pass).toBe(false)
  })

  it('says how long the scale-up took', () => {
    const seen = { sinceBurst: 35, sent: 40, answered: 39, failed: [] }
    expect(loadScalesUp.evaluate({ ...seen, replicas: { wanted: 2, ready: 2 } })).toEqual({
      pass: true,
      detail: '2 Ready 35 s after the burst',
    })
    expect(loadScalesUp.evaluate({ ...seen, replicas: { wanted: 2, ready: 1 } }).pass).toBe(false)
  })
})

describe('step 07: the variants and the rights', () => {
  it('fails with the refusal of a variant', () => {
    expect(variantsAdmitted.evaluate({ files: 2, refused: [] }).pass).toBe(true)
    const refused = variantsAdmitted.evaluate({ files: 2, refused: ['ScaledObject/llama: Unsupported value'] })
    expect(refused.pass ? '' : refused.seen).toContain('ScaledObject/llama')
  })

  it('passes the rights the adapter needs, and fails on one more', () => {
    const answers = [
      ...adapterMayDo.map((a) => ({ ...a, allowed: true })),
      ...adapterMayNotDo.map((a) => ({ ...a, allowed: false })),
    ]
    expect(leastPrivilege.evaluate({ answers }).pass).toBe(true)
    const more = answers.map((a) => (describeAccess(a) === 'list secrets' ? { ...a, allowed: true } : a))
    expect(hintOf(leastPrivilege.evaluate({ answers: more }))).toMatch(/resourceNames/)
  })
})
