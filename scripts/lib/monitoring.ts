// Where the monitoring files live (observability/monitoring: step 08 applies them), and the
// Prometheus tools that check and run them.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { parse } from 'yaml'
import { cachedPrometheusTool, type PrometheusTool } from './build/prometheus.ts'
import { partOfLabel, repoRoot } from './project.ts'

export const monitoringDir = join(repoRoot, 'observability', 'monitoring')
export const rulesFile = join(monitoringDir, 'serving-lab.rules.yml')
export const rulesTestFile = join(monitoringDir, 'serving-lab.rules.test.yml')
export const scrapeConfigFile = join(monitoringDir, 'prometheus.yml')
export const dashboardFile = join(monitoringDir, 'serving-lab-dashboard.json')
export const podMonitorFile = join(monitoringDir, 'pod-monitor.yaml')

/**
 * The rules file as prometheus-operator's PrometheusRule: its groups are the spec's, so the
 * repository keeps one copy of the rules.
 */
export function prometheusRule(namespace: string): KubernetesObject & { spec: { groups: unknown[] } } {
  const { groups } = parse(readFileSync(rulesFile, 'utf8')) as { groups: unknown[] }
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'serving-lab', namespace, labels: { ...partOfLabel } },
    spec: { groups },
  }
}

/**
 * The path of a Prometheus program (`promtool`, `prometheus`): PROMTOOL or PROMETHEUS if set, else
 * the lab's build in the cache (`npm run build:tools`), else the one on PATH; undefined when
 * there is none.
 */
export function prometheusTool(name: PrometheusTool): string | undefined {
  const fromEnv = process.env[name.toUpperCase()]
  if (fromEnv) return fromEnv
  const built = cachedPrometheusTool(name)
  if (built) return built
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/**
 * Whether a promtool knows Kubernetes service discovery. Debian builds its prometheus without it
 * (and some other discovery mechanisms), so its promtool refuses `kubernetes_sd_configs` as an
 * unknown field; the lab's build (npm run build:tools) knows it.
 */
export function promtoolKnowsKubernetes(promtool: string): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'promtool-probe-'))
  try {
    const file = join(dir, 'probe.yml')
    writeFileSync(file, 'scrape_configs:\n  - job_name: probe\n    kubernetes_sd_configs: [{ role: pod }]\n')
    const probe = spawnSync(promtool, ['check', 'config', '--syntax-only', file], { encoding: 'utf8' })
    return !/field kubernetes_sd_configs not found/.test(`${probe.stdout}${probe.stderr}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
