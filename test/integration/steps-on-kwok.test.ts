// Every step's manifests on a real API server (the kwok cluster): admitted by server-side
// apply, acted on by the real controllers and scheduler, and verified by the step's own checks.
import type { V1Node, V1Pod } from '@kubernetes/client-node'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { stopStandIns } from '../../scripts/lib/stand-ins.ts'
import { GPU_RESOURCE } from '../../scripts/lib/cluster/topology.ts'
import { runChecks } from '../../scripts/lib/checks/run-checks.ts'
import { connect } from '../../scripts/lib/kube.ts'
import { applyStep, verifyStep } from '../../scripts/lib/runner.ts'
import { waitForRollout } from '../../scripts/lib/rollout.ts'
import { listSteps, stepNamespace } from '../../scripts/lib/steps.ts'

const kube = connect(inject('kubeContext'))
// Step 06 on kwok starts the lab scheduler in this process; the suites after this one share the process.
afterAll(stopStandIns)
const quiet = () => {}
const steps = await listSteps()

const gpusOf = (pod: V1Pod) =>
  pod.spec!.containers.reduce((sum, c) => sum + Number(c.resources?.limits?.[GPU_RESOURCE] ?? 0), 0)

describe.each(steps.map((step) => [step.folder, step] as const))('steps/%s on the kwok cluster', (_folder, step) => {
  it('applies with server-side apply and rolls out', async () => {
    const namespace = await applyStep(kube, step, { apply: true, reset: true, emit: quiet })
    expect(await waitForRollout(kube, namespace, quiet, { timeoutMs: 120_000 })).toEqual([])
  })

  it('every StatefulSet pod has its ordinal name and pod-index label', async () => {
    const namespace = await stepNamespace(step)
    const sets = (await kube.apps.listNamespacedStatefulSet({ namespace })).items
    for (const set of sets) {
      const selector = Object.entries(set.spec!.selector.matchLabels!)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
      const pods = (await kube.core.listNamespacedPod({ namespace, labelSelector: selector })).items
      const byName = pods.map((p) => [p.metadata!.name, p.metadata!.labels!['apps.kubernetes.io/pod-index']]).sort()
      expect(byName).toEqual(
        Array.from({ length: set.spec!.replicas! }, (_, i) => [`${set.metadata!.name}-${i}`, String(i)]),
      )
    }
  })

  it('the scheduler put GPU pods only on GPU nodes, within each node’s GPUs, or said why not', async () => {
    const namespace = await stepNamespace(step)
    const nodes = new Map((await kube.core.listNode()).items.map((n: V1Node) => [n.metadata!.name!, n]))
    const used = new Map<string, number>()
    for (const pod of (await kube.core.listNamespacedPod({ namespace })).items) {
      const gpus = gpusOf(pod)
      if (gpus === 0) continue
      // Step 06's gang that cannot fit stays pending, and its scheduler says so on the pod.
      const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled')
      if (!pod.spec!.nodeName && scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') continue
      const node = nodes.get(pod.spec!.nodeName!)
      expect(node, `${pod.metadata!.name} is bound to a node`).toBeDefined()
      used.set(node!.metadata!.name!, (used.get(node!.metadata!.name!) ?? 0) + gpus)
    }
    for (const [name, gpus] of used)
      expect(gpus).toBeLessThanOrEqual(Number(nodes.get(name)!.status!.allocatable![GPU_RESOURCE]))
  })

  it("the step's own api checks pass, and its pods checks are skipped", async () => {
    const results = await verifyStep(kube, step, false, quiet)
    const failed = results.filter((r) => r.status === 'failed')
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([])
    expect(results.filter((r) => r.needs === 'api').every((r) => r.status === 'passed')).toBe(true)
    expect(results.filter((r) => r.needs === 'pods').every((r) => r.status === 'skipped')).toBe(true)
  })
})

describe('a check that must fail does fail on the real cluster', () => {
  it('step 01 reports the missing replica after the StatefulSet is scaled down', async () => {
    const step = steps.find((s) => s.id === '01')!
    const namespace = await applyStep(kube, step, { apply: true, reset: false, emit: quiet })
    await kube.apps.patchNamespacedStatefulSetScale(
      { name: 'llama-3-70b', namespace, body: [{ op: 'replace', path: '/spec/replicas', value: 2 }] },
      (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/json-patch+json'),
    )
    const { podNames } = await import('../../steps/01-basic-statefulset/test-01-statefulset.ts')
    const [result] = await runChecks(
      [{ ...podNames, timeoutMs: 15_000 }],
      { kube, namespace },
      { runsContainers: false, emit: quiet },
    )
    expect(result).toMatchObject({ status: 'failed', seen: 'llama-3-70b-0, llama-3-70b-1' })
    expect(result!.hint).toContain('describe statefulset')
  })
})
