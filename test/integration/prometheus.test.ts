// The real Prometheus (the lab's build, npm run build:tools) scraping real workload
// processes on loopback: a model-server group of two ranks, the frontend and the router in front
// of it, under a little load, and the lab's scheduler placing a GPU pod on the kwok cluster. Step
// 08's rules are loaded as they are, but with each alert's `for` cut to 2 s so the test waits
// seconds, not minutes; the scrape and evaluation intervals are 1 s. It checks that a healthy run
// fires no alert, that every panel of the dashboard has data, and that killing a rank makes
// ServingLabGroupUnready fire on the scraped data.
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { installPodGroupCrd } from '../../scripts/lib/build/pod-group-crd.ts'
import { apply, connect } from '../../scripts/lib/kube.ts'
import { currentContextOnly } from '../../scripts/lib/kubeconfig.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'
import { parse, stringify } from 'yaml'
import { dashboardFile, prometheusTool, rulesFile } from '../../scripts/lib/monitoring.ts'
import { startPrometheus, type PrometheusProcess } from '../../scripts/lib/prometheus-process.ts'
import { freePort, startWorkload, type WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import { startFrontend } from './frontend-helpers.ts'
import { groupSecret, model, startModelServer, waitFor } from './model-server-helpers.ts'
import { startRouter } from './router-helpers.ts'

const prometheus = prometheusTool('prometheus')
const skipReason = 'skipped: no prometheus; run npm run build:tools (.ci/run does) or set PROMETHEUS'
const namespace = 'lab-08'
/** Where the scheduler holds its Lease and places its pod, on the shared kwok cluster. */
const schedulerNamespace = 'prometheus-test'
const quiet = () => {}

/** The shipped rules with every `for` cut to 2 s: the expressions are untouched. */
function rulesWithShortHolds(): string {
  const rules = parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { for?: string }[] }[] }
  for (const rule of rules.groups.flatMap((g) => g.rules)) if (rule.for) rule.for = '2s'
  return stringify(rules)
}

interface Panel {
  title: string
  targets: { expr: string }[]
}
const panels = (JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Panel[] }).panels

const hostOf = (workload: WorkloadProcess) => new URL(workload.url).host

function startRank(nodeRank: number, masterPort: number): Promise<WorkloadProcess> {
  return startModelServer(
    [
      '--heartbeat-interval-ms',
      '200',
      '--heartbeat-timeout-ms',
      '1000',
      '--time-to-first-token-ms',
      '20',
      '--inter-token-latency-ms',
      '5',
      '--log-level',
      'warn',
    ],
    {
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(masterPort),
      NODE_RANK: String(nodeRank),
      NNODES: '2',
      GPUS_PER_NODE: '2',
      GROUP_SECRET: groupSecret,
    },
  )
}

/** The scheduler as a process against the kwok cluster, with a short Lease so it leads at once. */
function startScheduler(kubeconfig: string): Promise<WorkloadProcess> {
  return startWorkload(
    process.execPath,
    [
      '--import',
      'tsx',
      'workloads/scheduler/main.ts',
      '--namespace',
      schedulerNamespace,
      '--identity',
      'scheduler-0',
      '--lease-duration-ms',
      '3000',
      '--renew-deadline-ms',
      '2000',
      '--retry-period-ms',
      '500',
      '--log-level',
      'warn',
    ],
    { cwd: repoRoot, env: { PATH: process.env.PATH, KUBECONFIG: kubeconfig } },
  )
}

/** A pod of one GPU for the lab's scheduler to place: the scheduling panels' data. */
const gpuPod = (name: string) =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: schedulerNamespace },
    spec: {
      schedulerName: 'serving-lab-scheduler',
      containers: [
        { name: 'main', image: 'registry.invalid/none:0', resources: { limits: { 'nvidia.com/gpu': '1' } } },
      ],
    },
  }) as KubernetesObject

/** A streamed completion through `base`, read to its end. */
async function streamCompletion(base: string): Promise<void> {
  const response = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model,
      prompt: 'The lab watches its servers with Prometheus.',
      max_tokens: 12,
      stream: true,
    }),
  })
  await response.text()
}

describe.skipIf(!prometheus)(`the real Prometheus against the workloads${prometheus ? '' : ` (${skipReason})`}`, () => {
  const workloads: WorkloadProcess[] = []
  let ranks: WorkloadProcess[]
  let frontend: WorkloadProcess
  let router: WorkloadProcess
  let scheduler: WorkloadProcess
  let server: PrometheusProcess
  let kubeconfigDir: string | undefined
  const kube = connect(inject('kubeContext'))
  let load: Promise<void> | undefined
  let loading = true

  beforeAll(async () => {
    const masterPort = await freePort()
    ranks = await Promise.all([0, 1].map((rank) => startRank(rank, masterPort)))
    workloads.push(...ranks)
    frontend = await startFrontend([ranks[0]!])
    router = await startRouter([ranks[0]!.url], ['--log-level', 'warn'])
    workloads.push(frontend, router)
    await deleteNamespaces(kube, [schedulerNamespace], quiet)
    await installPodGroupCrd(kube, quiet)
    await apply(kube, [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: schedulerNamespace } } as KubernetesObject,
    ])
    kubeconfigDir = await mkdtemp(join(tmpdir(), 'prometheus-test-'))
    const kubeconfig = join(kubeconfigDir, 'kubeconfig')
    await writeFile(kubeconfig, currentContextOnly(kube.config), { mode: 0o600 })
    scheduler = await startScheduler(kubeconfig)
    workloads.push(scheduler)
    const target = (job: string, workload: WorkloadProcess, pod: string, app = job) => ({
      job_name: pod,
      scrape_interval: '1s',
      static_configs: [{ targets: [hostOf(workload)], labels: { namespace, pod, app } }],
      // The same labels Kubernetes service discovery gives (prometheus.yml): job is the component.
      relabel_configs: [{ target_label: 'job', replacement: job }],
    })
    server = await startPrometheus({
      program: prometheus!,
      config: {
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: ['serving-lab.rules.yml'],
        scrape_configs: [
          target('model-server', ranks[0]!, 'llama-a-0', 'llama-a'),
          target('model-server', ranks[1]!, 'llama-a-1', 'llama-a'),
          target('frontend', frontend, 'frontend-0'),
          target('router', router, 'router-0'),
          target('scheduler', scheduler, 'scheduler-0'),
        ],
      },
      ruleFiles: { 'serving-lab.rules.yml': rulesWithShortHolds() },
    })
    // Two placements, the second once Prometheus holds the first: a rate needs the histogram's
    // series scraped before an observation, and a series appears with its first one.
    await apply(kube, [gpuPod('first')])
    await waitFor('the first placement scraped', async () => {
      const samples = await server.query('serving_lab_scheduler_placement_latency_seconds_count > 0')
      return samples.length > 0
    })
    await apply(kube, [gpuPod('second')])
    // A little load, through the frontend (streamed) and the router, until the tests are done.
    load = (async () => {
      while (loading) await Promise.all([streamCompletion(frontend.url), streamCompletion(router.url)])
    })()
  })

  afterAll(async () => {
    loading = false
    await load?.catch(() => {})
    await server?.stop()
    await Promise.all(workloads.map((w) => w.stop('SIGKILL')))
    await deleteNamespaces(kube, [schedulerNamespace], quiet)
    if (kubeconfigDir) await rm(kubeconfigDir, { recursive: true, force: true })
  })

  it('scrapes every workload: each target is up', async () => {
    const up = await waitFor(
      'five targets up',
      async () => {
        const samples = await server.query('up == 1')
        return samples.length === 5 && samples
      },
      30_000,
    )
    expect(up.map((s) => s.metric.job).sort()).toEqual([
      'frontend',
      'model-server',
      'model-server',
      'router',
      'scheduler',
    ])
  })

  it.each(panels.map((p) => [p.title, p] as const))(
    'dashboard panel "%s": every query returns data',
    async (_title, panel) => {
      for (const { expr } of panel.targets) {
        const samples = await waitFor(
          `data for ${expr}`,
          async () => {
            const result = (await server.query(expr)).filter((s) => Number.isFinite(s.value))
            return result.length > 0 && result
          },
          30_000,
        ).catch((error: Error) => {
          throw new Error(`${error.message}\nprometheus:\n${server.output()}`)
        })
        expect(samples.length).toBeGreaterThan(0)
      }
    },
  )

  it('a healthy run fires no alert, pending or firing', async () => {
    // Three evaluations after every panel has data: time for a 2 s hold to pass.
    const since = Date.now()
    await waitFor('three more rule evaluations', async () => {
      const groups = (await (await fetch(`${server.url}/api/v1/rules`)).json()) as {
        data: { groups: { lastEvaluation: string }[] }
      }
      return groups.data.groups.every((g) => Date.parse(g.lastEvaluation) > since + 3000)
    })
    expect(await server.alerts()).toEqual([])
  })

  it('killing a rank makes ServingLabGroupUnready fire, and ServingLabTargetDown name the lost pod', async () => {
    await ranks[1]!.stop('SIGKILL')
    const firing = await waitFor(
      'ServingLabGroupUnready and ServingLabTargetDown firing',
      async () => {
        const alerts = (await server.alerts()).filter((a) => a.state === 'firing')
        const names = new Set(alerts.map((a) => a.labels.alertname))
        return names.has('ServingLabGroupUnready') && names.has('ServingLabTargetDown') && alerts
      },
      30_000,
    )
    const unready = firing.find((a) => a.labels.alertname === 'ServingLabGroupUnready')!
    expect(unready.labels).toMatchObject({ namespace, app: 'llama-a', severity: 'critical' })
    const down = firing.find((a) => a.labels.alertname === 'ServingLabTargetDown')!
    expect(down.labels).toMatchObject({ namespace, pod: 'llama-a-1', job: 'model-server' })
  })
})
