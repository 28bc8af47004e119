// The real Prometheus as a process on this machine: a configuration and rules written to a
// temporary directory that also holds its TSDB, a loopback port, and its HTTP API to query.
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { stringify } from 'yaml'
import { freePort } from './workload-process.ts'

/** One series of an instant query's answer. */
export interface Sample {
  metric: Record<string, string>
  value: number
}

/** An alert as GET /api/v1/alerts lists it. */
export interface Alert {
  labels: Record<string, string>
  state: 'pending' | 'firing'
}

export interface PrometheusProcess {
  url: string
  query(expr: string): Promise<Sample[]>
  alerts(): Promise<Alert[]>
  /** Everything it logged, for failure messages. */
  output(): string
  stop(): Promise<void>
}

export interface PrometheusOptions {
  /** The `prometheus` program. */
  program: string
  /** prometheus.yml as an object; `rule_files` may name the files in `ruleFiles`. */
  config: object
  /** File name → contents, written beside the configuration. */
  ruleFiles?: Record<string, string>
  timeoutMs?: number
}

async function api<T>(url: string): Promise<T> {
  const response = await fetch(url)
  const body = (await response.json()) as { status: string; data: T; error?: string }
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? response.status}`)
  return body.data
}

/** Starts Prometheus and resolves once it answers /-/ready; rejects with its log if it exits or is not ready in time. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'serving-lab-prometheus-'))
  const configFile = join(dir, 'prometheus.yml')
  await writeFile(configFile, stringify(options.config))
  for (const [name, text] of Object.entries(options.ruleFiles ?? {})) await writeFile(join(dir, name), text)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const child = spawn(
    options.program,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-32 * 1024))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exited = false
  const exit = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  void exit.then(() => (exited = true))

  const process: PrometheusProcess = {
    url,
    output: () => output,
    async query(expr) {
      const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
      )
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
    },
    async alerts() {
      return (await api<{ alerts: Alert[] }>(`${url}/api/v1/alerts`)).alerts
    },
    async stop() {
      if (!exited) child.kill('SIGTERM')
      await exit
      await rm(dir, { recursive: true, force: true })
    },
  }

  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  while (Date.now() < deadline) {
    if (exited) {
      await rm(dir, { recursive: true, force: true })
      throw new Error(`prometheus exited before it was ready:\n${output}`)
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    )
    if (ready) return process
    await delay(100)
  }
  await process.stop()
  throw new Error(`prometheus was not ready within ${options.timeoutMs ?? 30_000} ms:\n${output}`)
}
