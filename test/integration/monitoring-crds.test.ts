// The objects step 08 gives prometheus-operator users, admitted by the kwok cluster's API server
// against the operator's real CRDs (generated from its Go module at the pinned version): the
// PodMonitor as shipped, and the rules file as a PrometheusRule. A misspelt field and a value the
// schema forbids are refused, so the schema is really in force.
import { readFileSync } from 'node:fs'
import { CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { installMonitoringCrds } from '../../scripts/lib/build/prometheus-operator-crds.ts'
import { apply, connect } from '../../scripts/lib/kube.ts'
import { parseManifests } from '../../scripts/lib/manifests.ts'
import { podMonitorFile, prometheusRule } from '../../scripts/lib/monitoring.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'

const kube = connect(inject('kubeContext'))
const custom = kube.config.makeApiClient(CustomObjectsApi)
const namespace = 'monitoring-crds'
const quiet = () => {}

function podMonitor(): KubernetesObject & { spec: Record<string, unknown> } {
  const [object] = parseManifests(readFileSync(podMonitorFile, 'utf8'), podMonitorFile)
  return { ...object!, metadata: { ...object!.metadata, namespace } } as KubernetesObject & {
    spec: Record<string, unknown>
  }
}

describe("prometheus-operator's CRDs admit step 08's monitoring objects", () => {
  beforeAll(async () => {
    await installMonitoringCrds(kube, quiet)
    await deleteNamespaces(kube, [namespace], quiet)
    await apply(kube, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as KubernetesObject])
  })
  afterAll(() => deleteNamespaces(kube, [namespace], quiet))

  it('the PodMonitor is admitted and kept as written', async () => {
    await apply(kube, [podMonitor()])
    const stored = (await custom.getNamespacedCustomObject({
      group: 'monitoring.coreos.com',
      version: 'v1',
      namespace,
      plural: 'podmonitors',
      name: 'serving-lab',
    })) as { spec: { jobLabel: string; podMetricsEndpoints: { port: string; relabelings: unknown[] }[] } }
    expect(stored.spec.jobLabel).toBe('app.kubernetes.io/component')
    expect(stored.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'http', path: '/metrics' })
    expect(stored.spec.podMetricsEndpoints[0]!.relabelings).toHaveLength(3)
  })

  it('the rules file, as a PrometheusRule, is admitted with every rule', async () => {
    const rule = prometheusRule(namespace)
    await apply(kube, [rule])
    const stored = (await custom.getNamespacedCustomObject({
      group: 'monitoring.coreos.com',
      version: 'v1',
      namespace,
      plural: 'prometheusrules',
      name: 'serving-lab',
    })) as { spec: { groups: { rules: unknown[] }[] } }
    expect(stored.spec.groups.flatMap((g) => g.rules)).toHaveLength(
      (rule.spec.groups as { rules: unknown[] }[]).flatMap((g) => g.rules).length,
    )
  })

  it('a misspelt field, or a value the schema forbids, is refused', async () => {
    const misspelt = podMonitor()
    misspelt.spec = { ...misspelt.spec, podMetricEndpoints: misspelt.spec.podMetricsEndpoints }
    await expect(apply(kube, [misspelt])).rejects.toThrow(/podMetricEndpoints/)
    const badScheme = podMonitor()
    badScheme.spec.podMetricsEndpoints = [{ port: 'http', scheme: 'ftp' }]
    await expect(apply(kube, [badScheme])).rejects.toThrow(/scheme/)
  })
})
