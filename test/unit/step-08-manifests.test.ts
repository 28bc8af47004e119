// Step 08's manifests against their sources: Prometheus's ConfigMap holds the files of
// observability/monitoring/ (one source of truth, whose promtool tests CI runs), and what the step
// repeats from step 07 is step 07's objects in lab-08.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { inNamespace } from '../../scripts/lib/mutations/namespace-copy.ts'
import { repoRoot } from '../../scripts/lib/project.ts'

const step08 = await readManifests(join(repoRoot, 'steps/08-production'))
const step07 = await readManifests(join(repoRoot, 'steps/07-autoscaling'))
const monitoring = (file: string) => readFile(join(repoRoot, 'observability/monitoring', file), 'utf8')
const configMap = step08.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === 'prometheus') as unknown as {
  data: Record<string, string>
}

describe("step 08's Prometheus ConfigMap", () => {
  it('holds the tested rules file as it is', async () => {
    expect(configMap.data['serving-lab.rules.yml']).toBe(await monitoring('serving-lab.rules.yml'))
  })

  it("holds prometheus.yml with the step's namespace alone in its discovery, and nothing else changed", async () => {
    const file = await monitoring('prometheus.yml')
    const names = /names: \[lab-01[^\]]*\]/
    expect(file).toMatch(names)
    expect(configMap.data['prometheus.yml']).toBe(file.replace(names, 'names: [lab-08]'))
  })

  it("is mounted where prometheus.yml's rule_files looks", () => {
    const deployment = step08.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'prometheus') as unknown as {
      spec: { template: { spec: { containers: { args: string[] }[] } } }
    }
    expect(deployment.spec.template.spec.containers[0]!.args).toContain('--config.file=/etc/prometheus/prometheus.yml')
    expect(configMap.data['prometheus.yml']).toMatch(/rule_files:\n {2}- serving-lab.rules.yml\n/)
  })
})

describe('what step 08 repeats from step 07', () => {
  it("is the same objects in lab-08, the namespace aside, the serving path's pods at a priority", () => {
    const key = (o: { kind?: string; metadata?: { name?: string } }) => `${o.kind}/${o.metadata?.name}`
    const repeated = inNamespace(step07, 'lab-07', 'lab-08').filter((o) => o.kind !== 'Namespace')
    expect(repeated.length).toBeGreaterThan(10)
    const prioritised: string[] = []
    for (const object of repeated) {
      const found = structuredClone(step08.find((o) => key(o) === key(object))) as
        { spec?: { template?: { spec?: { priorityClassName?: string } } } } | undefined
      const podSpec = found?.spec?.template?.spec
      if (podSpec?.priorityClassName) {
        expect(podSpec.priorityClassName).toBe('serving-lab-interactive')
        prioritised.push(key(object))
        delete podSpec.priorityClassName
      }
      expect(found, key(object)).toEqual(object)
    }
    expect(prioritised.sort()).toEqual(['Deployment/frontend', 'Deployment/metrics-adapter', 'StatefulSet/llama'])
  })

  it('adds Pod Security audit to the namespace, keeping enforce and warn', () => {
    const namespace = step08.find((o) => o.kind === 'Namespace')!
    expect(namespace.metadata?.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    })
  })
})
