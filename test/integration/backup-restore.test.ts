// A step backed up, its namespace deleted (step 08's cluster-scoped objects too), and the backup
// restored on the kwok cluster: the step's api checks pass on what the restore made. And a
// restore into another namespace leaves the original as it was.
import { RbacAuthorizationV1Api } from '@kubernetes/client-node'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { discoverResourceTypes } from '../../scripts/lib/api-discovery.ts'
import { formatBackup, namespaceObjects, parseBackup, takeBackup, type Backup } from '../../scripts/lib/backup.ts'
import type { Check, CheckResult } from '../../scripts/lib/checks/check.ts'
import { runChecks } from '../../scripts/lib/checks/run-checks.ts'
import { connect } from '../../scripts/lib/kube.ts'
import { deleteClusterScoped, freshNamespace } from '../../scripts/lib/namespaces.ts'
import { restore } from '../../scripts/lib/restore.ts'
import { applyStep } from '../../scripts/lib/runner.ts'
import { waitForRollout } from '../../scripts/lib/rollout.ts'
import { stopStandIns } from '../../scripts/lib/stand-ins.ts'
import { findStep, loadStepChecks, type Step } from '../../scripts/lib/steps.ts'

const kube = connect(inject('kubeContext'))
const quiet = () => {}
// Step 08 on kwok runs the metrics adapter's stand-in in this process.
afterAll(stopStandIns)
// Step 05 holds what a backup must get right: Deployments, a StatefulSet with volume claims,
// ConfigMaps, a Secret, RBAC, PDBs and the Lease its coordinators elect on.
const step05 = await findStep('05')
const step08 = await findStep('08')

const apiChecksOf = (results: readonly CheckResult[]) => ({
  failed: results.filter((r) => r.status === 'failed'),
  passed: results.filter((r) => r.needs === 'api' && r.status === 'passed').length,
})

/** The step applied and rolled out, backed up, and the backup read back from its file's text. */
async function backedUpStep(step = step05): Promise<Pick<Backup, 'header' | 'objects'>> {
  const namespace = await applyStep(kube, step, { apply: true, reset: true, emit: quiet })
  expect(await waitForRollout(kube, namespace, quiet, { timeoutMs: 120_000 })).toEqual([])
  return parseBackup(formatBackup(await takeBackup(kube, step)), 'backup')
}

/** Deletes the step's namespace (its cluster-scoped objects too, if asked), restores the backup, and runs the step's checks. */
async function restoredAfterLoss(
  step: Step,
  backup: Pick<Backup, 'header' | 'objects'>,
  { clusterScoped = false } = {},
) {
  await freshNamespace(kube, backup.header.namespace, quiet, { gracePeriodSeconds: 1 })
  if (clusterScoped) expect((await deleteClusterScoped(kube)).length).toBeGreaterThan(0)
  const result = await restore(kube, backup, { emit: quiet, timeoutMs: 120_000 })
  console.log(
    `restore of step ${step.id} on kwok: rolled out ${(result.durationMs / 1000).toFixed(1)} s after it began`,
  )
  expect(result.pending).toEqual([])
  // The checks alone: step 08's drill (a node lost) is not what a restore must pass.
  const { checks } = await loadStepChecks(step)
  const env = { kube, namespace: backup.header.namespace }
  const { failed, passed } = apiChecksOf(await runChecks(checks, env, { runsContainers: false, emit: quiet }))
  expect(failed, JSON.stringify(failed, null, 2)).toEqual([])
  expect(passed).toBeGreaterThan(0)
}

describe('backup and restore on the kwok cluster', () => {
  it('step 05, after its namespace is deleted, is restored and passes its api checks', async () => {
    const backup = await backedUpStep()
    const kinds = new Set(backup.objects.map((o) => o.kind))
    for (const kind of [
      'Namespace',
      'Deployment',
      'StatefulSet',
      'ConfigMap',
      'Secret',
      'Role',
      'RoleBinding',
      'Lease',
    ])
      expect(kinds, kind).toContain(kind)
    expect(kinds).not.toContain('Pod')
    expect(kinds).not.toContain('ReplicaSet')

    await restoredAfterLoss(step05, backup)
  })

  it('a restore of step 05 refuses a namespace that already holds objects, and --force applies over them', async () => {
    const backup = parseBackup(formatBackup(await takeBackup(kube, step05)), 'backup')
    await expect(restore(kube, backup, { emit: quiet })).rejects.toThrow(/already holds \d+ objects/)
    expect((await restore(kube, backup, { emit: quiet, force: true, timeoutMs: 120_000 })).pending).toEqual([])
  })

  it('step 08, after its namespace and its cluster-scoped RBAC and APIService are deleted, is restored and passes its api checks', async () => {
    const backup = await backedUpStep(step08)
    const kinds = backup.objects.map((o) => o.kind)
    for (const kind of ['ClusterRole', 'ClusterRoleBinding', 'APIService', 'NetworkPolicy', 'HorizontalPodAutoscaler'])
      expect(kinds, kind).toContain(kind)
    await restoredAfterLoss(step08, backup, { clusterScoped: true })
  })

  it('step 05 restored into another namespace makes a copy there and leaves the original as it was', async () => {
    const backup = await backedUpStep()
    const original = backup.header.namespace
    const copy = `${original}-restored`
    await freshNamespace(kube, copy, quiet, { gracePeriodSeconds: 1 })
    const discovery = await discoverResourceTypes(kube)
    const declared = { leases: new Set(['coordinator']) }
    const before = await namespaceObjects(kube, discovery, original, declared)

    // The original holds the cluster's GPUs, so the copy's model servers wait for them: only
    // what needs no GPU must roll out.
    const result = await restore(kube, backup, { namespace: copy, emit: quiet, timeoutMs: 30_000 })
    expect(result.pending.filter((p) => !p.startsWith('statefulset/llama-3-70b'))).toEqual([])
    const { checks } = (await import(step05.testFile)) as { checks: Check[] }
    const results = await runChecks(checks, { kube, namespace: copy }, { runsContainers: false, emit: quiet })
    const { failed, passed } = apiChecksOf(results)
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([])
    expect(passed).toBeGreaterThan(0)
    const bindings = await kube.config
      .makeApiClient(RbacAuthorizationV1Api)
      .listNamespacedRoleBinding({ namespace: copy })
    const subjects = bindings.items.flatMap((b) => b.subjects ?? [])
    expect(subjects.length).toBeGreaterThan(0)
    expect(subjects.every((s) => s.namespace === copy)).toBe(true)

    const after = await namespaceObjects(kube, discovery, original, declared)
    expect(after.kept).toEqual(before.kept)
    await freshNamespace(kube, copy, quiet, { gracePeriodSeconds: 1 })
  })
})
