// prometheus.yml's Kubernetes service discovery against a real API server: promtool (the lab's
// build) discovers the pods of the kwok cluster with the file's own selectors and relabelling,
// only pointed at the cluster by a kubeconfig, and reports each target's labels. The lab's pods
// become targets labelled as the rules and the dashboard expect; a pod that opts out, one that is
// not the lab's and one never scheduled do not.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { apply, connect } from '../../scripts/lib/kube.ts'
import { currentContextOnly } from '../../scripts/lib/kubeconfig.ts'
import { prometheusTool, promtoolKnowsKubernetes, scrapeConfigFile } from '../../scripts/lib/monitoring.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'
import { pollUntil } from '../../scripts/lib/poll.ts'
import { partOfLabel } from '../../scripts/lib/project.ts'

const promtool = prometheusTool('promtool')
const knowsKubernetes = promtool !== undefined && promtoolKnowsKubernetes(promtool)
const skipReason = 'skipped: no promtool with Kubernetes service discovery; run npm run build:tools'
/** One of the namespaces prometheus.yml lists; step 08's, which no other test uses. */
const namespace = 'lab-08'
const quiet = () => {}

interface ScrapeConfig {
  job_name: string
  kubernetes_sd_configs: Record<string, unknown>[]
}

/** One target as `promtool check service-discovery` reports it; `labels` is empty for a dropped one. */
interface DiscoveredTarget {
  discoveredLabels: Record<string, string>
  labels: Record<string, string>
}

const pod = (
  name: string,
  labels: Record<string, string>,
  extra: { annotations?: Record<string, string>; nodeSelector?: Record<string, string> } = {},
) =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, annotations: extra.annotations },
    spec: {
      nodeSelector: extra.nodeSelector,
      containers: [
        {
          name: 'main',
          image: 'multi-node-serving-lab/workloads:0.1.0',
          ports: [
            { name: 'http', containerPort: 8000 },
            { name: 'rendezvous', containerPort: 29500 },
          ],
        },
      ],
    },
  }) as KubernetesObject

const labelsOf = (component: string, name: string) => ({
  ...partOfLabel,
  'app.kubernetes.io/component': component,
  'app.kubernetes.io/name': name,
})

/** promtool's stdout, or its output in the error when it fails. */
function runPromtool(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool!, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`promtool exited ${code}:\n${stdout}${stderr}`)),
    )
  })
}

describe.skipIf(!knowsKubernetes)(
  `prometheus.yml's Kubernetes service discovery${knowsKubernetes ? '' : ` (${skipReason})`}`,
  () => {
    const kube = connect(inject('kubeContext'))
    let dir: string
    let running: V1Pod[]
    let targets: DiscoveredTarget[]

    beforeAll(async () => {
      await deleteNamespaces(kube, [namespace], quiet)
      await apply(kube, [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as KubernetesObject,
        pod('llama-a-0', labelsOf('model-server', 'llama-a')),
        pod('router-0', labelsOf('router', 'router')),
        pod('opted-out-0', labelsOf('router', 'router'), { annotations: { 'serving-lab.io/scrape': 'false' } }),
        pod('stranger-0', { 'app.kubernetes.io/component': 'router', 'app.kubernetes.io/name': 'stranger' }),
        pod('pending-0', labelsOf('frontend', 'frontend'), { nodeSelector: { 'serving-lab.io/no-such-node': 'x' } }),
      ])
      const scheduled = ['llama-a-0', 'router-0', 'opted-out-0', 'stranger-0']
      const { value, held } = await pollUntil(
        async () => (await kube.core.listNamespacedPod({ namespace })).items,
        (pods) => scheduled.every((name) => pods.find((p) => p.metadata?.name === name)?.status?.podIP),
        { timeoutMs: 30_000, intervalMs: 250 },
      )
      if (!held) throw new Error(`the pods did not get IPs: ${value.map((p) => p.status?.phase).join(', ')}`)
      running = value

      // The file as shipped, with each discovery pointed at the kwok cluster (in a pod it would
      // use the pod's service account) and no rules to load.
      dir = await mkdtemp(join(tmpdir(), 'prometheus-discovery-'))
      const kubeconfig = join(dir, 'kubeconfig')
      await writeFile(kubeconfig, currentContextOnly(kube.config), { mode: 0o600 })
      const config = parse(await readFile(scrapeConfigFile, 'utf8')) as {
        rule_files?: string[]
        scrape_configs: ScrapeConfig[]
      }
      delete config.rule_files
      for (const sd of config.scrape_configs.flatMap((c) => c.kubernetes_sd_configs)) sd.kubeconfig_file = kubeconfig
      const configFile = join(dir, 'prometheus.yml')
      await writeFile(configFile, stringify(config))
      const job = config.scrape_configs[0]!.job_name
      targets = JSON.parse(
        await runPromtool(['check', 'service-discovery', '--timeout=5s', configFile, job]),
      ) as DiscoveredTarget[]
    })

    afterAll(async () => {
      await deleteNamespaces(kube, [namespace], quiet)
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    const kept = () => targets.filter((t) => Object.keys(t.labels ?? {}).length > 0)

    it('lists the lab pods with an address: the API server filters on part-of, and an unscheduled pod has no IP', () => {
      const listed = new Set(targets.map((t) => t.discoveredLabels.__meta_kubernetes_pod_name))
      expect([...listed].sort()).toEqual(['llama-a-0', 'opted-out-0', 'router-0'])
    })

    it('keeps one target per running lab pod, on its port named http, and drops the opted-out one', () => {
      const byPod = kept().map((t) => [t.labels.pod, t.labels.instance])
      const ipOf = (name: string) => running.find((p) => p.metadata?.name === name)!.status!.podIP
      expect(byPod.sort()).toEqual([
        ['llama-a-0', `${ipOf('llama-a-0')}:8000`],
        ['router-0', `${ipOf('router-0')}:8000`],
      ])
    })

    it('labels each target with job, app, namespace, pod and node, as the rules and the dashboard group by', () => {
      const server = kept().find((t) => t.labels.pod === 'llama-a-0')!
      const nodeName = running.find((p) => p.metadata?.name === 'llama-a-0')!.spec!.nodeName
      expect(server.labels).toMatchObject({
        job: 'model-server',
        app: 'llama-a',
        namespace,
        pod: 'llama-a-0',
        node: nodeName,
      })
      expect(kept().find((t) => t.labels.pod === 'router-0')!.labels).toMatchObject({ job: 'router', app: 'router' })
    })
  },
)
