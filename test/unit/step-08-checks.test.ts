// Step 08's checks judged without a cluster: the checks that read objects (NetworkPolicies,
// Prometheus's ConfigMap, PodDisruptionBudgets) are judged on observations made from the step's
// own manifests, as written and with each of its mutations applied; the ones that ask the API
// server (Pod Security, the authorizer) on observations written out by hand.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import type { Verdict } from '../../scripts/lib/checks/check.ts'
import { describeAccess } from '../../scripts/lib/checks/kit.ts'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { readMutations } from '../../scripts/lib/mutations/mutations-file.ts'
import { applyPatches } from '../../scripts/lib/mutations/patch.ts'
import type { NetworkPolicy } from '../../scripts/lib/network-policy.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import { failure, recordedFor } from './recorded.ts'
// The pods checks' observations on kind (kube-router): as written, and with the model servers'
// policy admitting 10.0.0.0/8 too (the mutation model-servers-open-to-a-private-range).
import podsOnKind from './fixtures/step-08-pods.kind.json' with { type: 'json' }
import privateRangeOnKind from './fixtures/step-08-private-range.kind.json' with { type: 'json' }
import {
  alertRulesTested,
  budgetsAllowEviction,
  budgetsObservation,
  dnsOpen,
  evictionsAllowed,
  loseANode,
  largestFootprint,
  quotaHoldsTheStep,
  type Autoscaler,
  type QuotaObservation,
  networkPaths,
  podSecurityEnforced,
  podShapesOf,
  prometheusDiscovers,
  prometheusLeastPrivilege,
  prometheusMayDo,
  prometheusMayNotDo,
  modelServersRefuseStrangers,
  prometheusScrapes,
  TESTED_RULES,
  type Workload,
  type WirePathsObservation,
} from '../../steps/08-production/test-08-production.ts'

const stepDir = join(repoRoot, 'steps', '08-production')
const manifests = await readManifests(stepDir)
const tested = await readFile(join(repoRoot, TESTED_RULES), 'utf8')
const hintOf = (verdict: Verdict) => (verdict.pass ? '' : verdict.hint)

/** What the object-reading checks would observe once these objects are applied. */
function verdictsOn(objects: readonly KubernetesObject[]): Record<string, Verdict> {
  const of = (kind: string) => objects.filter((o) => o.kind === kind)
  const namespace = of('Namespace')[0]!
  const workloads = [...of('Deployment'), ...of('StatefulSet')] as Workload[]
  const pods = podShapesOf(workloads)
  const network = {
    namespace: namespace.metadata!.name!,
    namespaceLabels: { ...namespace.metadata!.labels, 'kubernetes.io/metadata.name': namespace.metadata!.name! },
    policies: of('NetworkPolicy') as NetworkPolicy[],
    pods,
  }
  const data = (of('ConfigMap')[0] as { data?: Record<string, string> } | undefined)?.data ?? null
  return {
    'network-paths': networkPaths.evaluate(network),
    'dns-open': dnsOpen.evaluate(network),
    'prometheus-discovers': prometheusDiscovers.evaluate({ data, pods }),
    'alert-rules-tested': alertRulesTested.evaluate({ data, tested }),
    'budgets-allow-eviction': budgetsAllowEviction.evaluate(budgetsObservation(of('PodDisruptionBudget'), workloads)),
    'quota-holds-the-step': quotaHoldsTheStep.evaluate(quotaObservation(objects, workloads)),
  }
}

/**
 * What quota-holds-the-step would observe: the quota, the footprint, a bare container as the
 * LimitRange admission fills it in (or as the quota admission refuses it), the priorities.
 */
function quotaObservation(objects: readonly KubernetesObject[], workloads: Workload[]): QuotaObservation {
  const of = (kind: string) => objects.filter((o) => o.kind === kind) as (KubernetesObject & { spec?: never })[]
  const quota = of('ResourceQuota')[0] as { spec?: { hard?: Record<string, string> } } | undefined
  const limits = (of('LimitRange')[0] as { spec?: { limits?: { defaultRequest?: object; default?: object }[] } })?.spec
    ?.limits?.[0]
  const classes = of('PriorityClass') as { metadata?: { name?: string }; value?: number }[]
  return {
    hard: quota?.spec?.hard ?? null,
    largest: largestFootprint(workloads, of('HorizontalPodAutoscaler') as Autoscaler[]),
    bare:
      limits?.defaultRequest && limits.default
        ? { requests: { ...limits.defaultRequest }, limits: { ...limits.default } }
        : { refused: 'pods "limit-range-probe" is forbidden: failed quota: lab-08: must specify limits.memory' },
    priorities: workloads
      .filter((w) => ['llama', 'frontend', 'metrics-adapter'].includes(w.metadata!.name!))
      .map((w) => {
        const className = w.spec?.template?.spec?.priorityClassName ?? null
        const found = classes.find((c) => c.metadata?.name === className)
        return { workload: w.metadata!.name!, className, value: found?.value ?? null }
      }),
  }
}

describe('step 08 as written', () => {
  it('passes every check that reads its objects', () => {
    for (const [id, verdict] of Object.entries(verdictsOn(manifests))) expect(verdict, id).toMatchObject({ pass: true })
  })

  it("counts the step at its largest against the quota: the HPA's maximum and each rolling update's surge", () => {
    expect(verdictsOn(manifests)['quota-holds-the-step']).toEqual({
      pass: true,
      detail: 'GPUs 4 of 4 at most; defaults 50m CPU, 64Mi, limit 256Mi',
    })
    const workloads = manifests.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind!)) as Workload[]
    const { totals, pods } = largestFootprint(
      workloads,
      manifests.filter((o) => o.kind === 'HorizontalPodAutoscaler') as Autoscaler[],
    )
    expect(pods).toEqual(['llama 4', 'frontend 3', 'metrics-adapter 3', 'prometheus 1'])
    expect(totals).toMatchObject({ 'requests.nvidia.com/gpu': 4, pods: 11, 'limits.memory': 4608 * 2 ** 20 })
    expect(totals['requests.cpu']).toBeCloseTo(0.8)
  })

  it('scrapes the frontend, the model servers and Prometheus, and lets each budget evict one pod', () => {
    expect(verdictsOn(manifests)['prometheus-discovers']).toEqual({ pass: true, detail: 'frontend, prometheus, llama' })
    expect(verdictsOn(manifests)['budgets-allow-eviction']).toEqual({
      pass: true,
      detail: 'llama 1 of 1, frontend 1 of 2, metrics-adapter 1 of 2',
    })
  })
})

describe('step 08 with each of its mutations', async () => {
  const mutations = (await readMutations(stepDir)).filter((m) => m.expect === 'checks')
  const judged = Object.keys(verdictsOn(manifests))
  it.each(mutations.map((m) => [m.name, m] as const))('%s', (_name, mutation) => {
    const verdicts = verdictsOn(applyPatches(manifests, mutation.patch))
    for (const id of judged) {
      if (mutation.fails.includes(id)) expect(verdicts[id], id).toMatchObject({ pass: false })
      else if (!mutation.mayAlsoFail.includes(id)) expect(verdicts[id], id).toMatchObject({ pass: true })
    }
    const first = mutation.fails[0]!
    if (judged.includes(first))
      for (const word of mutation.hint) expect(hintOf(verdicts[first]!).toLowerCase()).toContain(word.toLowerCase())
  })
})

describe('step 08: the budgets', () => {
  it('counts evictions as the disruption controller does, percentages rounded up', () => {
    expect(evictionsAllowed({ name: 'a', maxUnavailable: 1, replicas: 1 })).toBe(1)
    expect(evictionsAllowed({ name: 'a', maxUnavailable: 0, replicas: 3 })).toBe(0)
    expect(evictionsAllowed({ name: 'a', maxUnavailable: '10%', replicas: 3 })).toBe(1)
    expect(evictionsAllowed({ name: 'a', minAvailable: 1, replicas: 1 })).toBe(0)
    expect(evictionsAllowed({ name: 'a', minAvailable: '50%', replicas: 3 })).toBe(1)
    expect(evictionsAllowed({ name: 'a', replicas: 3 })).toBe(0)
  })

  it('fails when there is no budget at all', () => {
    expect(budgetsAllowEviction.evaluate({ budgets: [] }).pass).toBe(false)
  })
})

describe('step 08: Pod Security', () => {
  const enforced = { 'pod-security.kubernetes.io/enforce': 'restricted' }
  const refusal = 'pods "pod-security-probe" is forbidden: violates PodSecurity "restricted:latest": privileged'

  it('passes when the namespace enforces restricted, refuses a privileged pod and admits the templates', () => {
    expect(
      podSecurityEnforced.evaluate({ labels: enforced, privilegedRefusal: refusal, templatesRefused: [] }).pass,
    ).toBe(true)
  })

  it('names the missing label, a label nothing enforces, and a template refused', () => {
    expect(hintOf(podSecurityEnforced.evaluate({ labels: {}, privilegedRefusal: null, templatesRefused: [] }))).toMatch(
      /admits any pod/,
    )
    expect(
      hintOf(podSecurityEnforced.evaluate({ labels: enforced, privilegedRefusal: null, templatesRefused: [] })),
    ).toMatch(/admission plugin/)
    const refused = ['Deployment/prometheus: violates PodSecurity "restricted:latest": runAsNonRoot != true']
    expect(
      hintOf(podSecurityEnforced.evaluate({ labels: enforced, privilegedRefusal: refusal, templatesRefused: refused })),
    ).toMatch(/restricted wants runAsNonRoot/)
  })
})

describe("step 08: Prometheus's least privilege", () => {
  const answers = (granted: (access: string) => boolean) =>
    [...prometheusMayDo, ...prometheusMayNotDo].map((access) => ({
      ...access,
      allowed: granted(describeAccess(access)),
    }))
  const needed = new Set(prometheusMayDo.map(describeAccess))

  it('passes when exactly the needed accesses are allowed', () => {
    expect(prometheusLeastPrivilege.evaluate({ answers: answers((a) => needed.has(a)) }).pass).toBe(true)
  })

  it('names a refused need and a granted excess', () => {
    const verdict = prometheusLeastPrivilege.evaluate({
      answers: answers((a) => needed.has(a) && !a.startsWith('watch pods')),
    })
    expect(verdict).toMatchObject({ pass: false, seen: 'refused: watch pods' })
    expect(
      hintOf(prometheusLeastPrivilege.evaluate({ answers: answers((a) => needed.has(a) || a === 'get secrets') })),
    ).toMatch(/read credentials/)
  })
})

describe('step 08: the targets Prometheus scrapes (pods)', () => {
  const up = (workload: string) => ({ workload, pod: `${workload}-0`, health: 'up', lastError: '' })
  const expected = ['frontend', 'prometheus', 'llama']

  it('passes when every workload has a target and all are up', () => {
    expect(prometheusScrapes.evaluate({ status: 200, targets: expected.map(up), expected }).pass).toBe(true)
  })

  it('names a workload without a target, and a target down', () => {
    expect(prometheusScrapes.evaluate({ status: 200, targets: [up('frontend')], expected })).toMatchObject({
      seen: 'none for prometheus, llama',
    })
    const down = { ...up('llama'), health: 'down', lastError: 'context deadline exceeded' }
    expect(
      hintOf(prometheusScrapes.evaluate({ status: 200, targets: [up('frontend'), up('prometheus'), down], expected })),
    ).toMatch(/NetworkPolicy/)
  })
})

describe('step 08: a refused path on the wire (pods)', () => {
  const server = { pod: 'llama-0', ip: '10.244.1.5', port: 8000 }
  const frontend = { pod: 'frontend-7d9c-abcde', ip: '10.244.2.7', port: 8080 }
  const answered = { outcome: 'answered' as const, detail: '200' }
  const timedOut = { outcome: 'timeout' as const }
  const probe = { pod: 'network-probe-0a1b2c', ready: true, toFrontend: answered, toServer: timedOut }
  const judged = (observation: Partial<WirePathsObservation>) =>
    modelServersRefuseStrangers.evaluate({ server, frontend, frontendToServer: answered, probe, ...observation })

  it('passes when the model server answers the frontend, and a pod no policy admits reaches the frontend but not it', () => {
    expect(judged({})).toEqual({
      pass: true,
      detail: 'llama-0 answered frontend-7d9c-abcde; network-probe: frontend answered (200), model server timeout',
    })
    expect(judged({ probe: { ...probe, toServer: { outcome: 'refused', detail: 'ECONNREFUSED' } } }).pass).toBe(true)
  })

  it('fails when the stranger gets an answer, naming both causes: a policy open to every pod, or no enforcement', () => {
    const verdict = judged({ probe: { ...probe, toServer: answered } })
    expect(verdict).toMatchObject({ pass: false, seen: 'it answered: answered (200)' })
    expect(hintOf(verdict)).toMatch(/empty podSelector/)
    expect(hintOf(verdict)).toMatch(/ipBlock whose range holds the pod network's addresses/)
    expect(hintOf(verdict)).toMatch(/kube-router/)
  })

  it('counts no refusal while an allowed path fails too: a dead server, or a probe without a network, refuses everyone', () => {
    const deadServer = judged({ frontendToServer: timedOut })
    expect(deadServer).toMatchObject({ pass: false, seen: 'timeout' })
    expect(hintOf(deadServer)).toMatch(/proves nothing/)
    const noNetwork = judged({ probe: { ...probe, toFrontend: timedOut } })
    expect(noNetwork).toMatchObject({ pass: false, seen: 'timeout' })
    expect(hintOf(noNetwork)).toMatch(/would prove nothing/)
  })

  it('says what is missing before it judges: no model server, no frontend, a probe that does not start', () => {
    expect(judged({ server: null })).toMatchObject({ pass: false, seen: 'no model server, frontend-7d9c-abcde' })
    expect(judged({ frontend: null })).toMatchObject({ pass: false, seen: 'llama-0, no frontend' })
    const verdict = judged({ probe: { pod: probe.pod, ready: false, waiting: 'ErrImageNeverPull' } })
    expect(verdict).toMatchObject({ pass: false, seen: 'ErrImageNeverPull' })
    expect(hintOf(verdict)).toMatch(/workload image/)
  })

  it('passes on what kind showed, and fails the private range that admits every pod (recorded)', () => {
    expect(prometheusScrapes.evaluate(recordedFor(prometheusScrapes, podsOnKind))).toEqual({
      pass: true,
      detail: '4 targets up',
    })
    const asWritten = recordedFor(modelServersRefuseStrangers, podsOnKind)
    expect(modelServersRefuseStrangers.evaluate(asWritten).pass).toBe(true)
    // kube-router refuses at once (a TCP reset), where other CNIs let the connection time out.
    expect(asWritten.probe?.toServer).toEqual({ outcome: 'refused', detail: 'ECONNREFUSED' })
    const opened = failure(
      modelServersRefuseStrangers.evaluate(recordedFor(modelServersRefuseStrangers, privateRangeOnKind)),
    )
    expect(opened.seen).toBe('it answered: answered (200)')
    expect(opened.hint).toMatch(/ipBlock/)
  })

  it('needs running containers: on kwok it is skipped', () => {
    expect(modelServersRefuseStrangers.needs).toBe('pods')
  })
})

describe('step 08: the drill that loses a node', () => {
  const lost = { node: 'kind-worker2', how: 'its machine stopped (docker pause) and tainted out of service' }
  const moved = { pod: 'llama-0', node: 'kind-worker', ready: true }
  const judged = (observation: Partial<Parameters<typeof loseANode.evaluate>[0]>) =>
    loseANode.evaluate({ lost, server: moved, answer: { status: 200, body: '{}' }, sinceLoss: 72, ...observation })

  it('passes when llama-0 is Ready on another node and the frontend answers, saying how long it took', () => {
    expect(judged({})).toEqual({
      pass: true,
      detail: `llama-0 moved from kind-worker2 to kind-worker, Ready 72 s after the loss (${lost.how}); the frontend answered`,
    })
    // kwok runs no containers: no request is sent, and the move alone is judged.
    expect(judged({ answer: null }).pass).toBe(true)
  })

  it('fails while llama-0 is still on the lost node, not Ready, or gone, naming the out-of-service taint', () => {
    for (const server of [{ ...moved, node: 'kind-worker2' }, { ...moved, ready: false }, null]) {
      const verdict = judged({ server, answer: null })
      expect(verdict).toMatchObject({
        pass: false,
        expected: `llama-0 Ready on a node other than kind-worker2 (${lost.how})`,
      })
      expect(hintOf(verdict)).toContain('node.kubernetes.io/out-of-service')
    }
    expect(judged({ server: null })).toMatchObject({
      seen: 'no llama-0 (besides one being deleted), 72 s after the loss',
    })
  })

  it('fails when the frontend does not answer once the server is back, and when there was no server to lose', () => {
    expect(judged({ answer: { status: 0, body: 'no answer in 15 s' } })).toMatchObject({
      pass: false,
      seen: '0 no answer in 15 s',
    })
    expect(judged({ lost: null })).toMatchObject({ pass: false, seen: 'none' })
  })
})
