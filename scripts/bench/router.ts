import { Agent, request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildWorkloads } from '../lib/build/workloads.ts'
import { startWorkload } from '../lib/workload-process.ts'
import type { Benchmark, Measurement } from './benchmark.ts'
import { ensureDebianProgram } from './debian-packages.ts'
import { cpuSeconds } from './process-cpu.ts'
import { closedLoop, percentile, throughput, type Load } from './load.ts'
import { zeroLatency } from './model-server.ts'
import { startHaproxy, startNginx } from './reverse-proxies.ts'

const concurrencies = [1, 16, 64, 256]
const modes = ['whole', 'streamed'] as const
type Mode = (typeof modes)[number]
const cellMs = 2_000
const warmUpMs = 500
const maxRequestsPerCell = 50_000
const maxTokens = 16
const agent = new Agent({ keepAlive: true })
const proxies = ['router', 'nginx', 'haproxy']

/**
 * What the router costs: the same completions sent straight to one model server (zero modelled
 * latency), through the router, and through Debian's nginx and HAProxy as reverse proxies to
 * that server, at 1 to 256 concurrent connections, answered whole and streamed. One backend, so
 * the only difference between the rows is the proxy hop. nginx and HAProxy are installed here
 * when missing (as root); everything, the load generator included, shares this machine's CPUs.
 */
export const routerBenchmark: Benchmark = {
  name: 'router',
  description: `completions direct, through the router, nginx and HAProxy to one model server, whole and streamed, at ${concurrencies.join(', ')} concurrent connections`,
  async run() {
    const outDir = await mkdtemp(join(tmpdir(), 'bench-router-'))
    const processes: { stop(): Promise<unknown> }[] = []
    try {
      await buildWorkloads(outDir)
      const backend = await startWorkload(process.execPath, [
        join(outDir, 'model-server.mjs'),
        ...zeroLatency,
        '--max-num-seqs',
        '1024',
      ])
      processes.push(backend)
      const router = await startWorkload(process.execPath, [join(outDir, 'router.mjs'), '--backends', backend.url], {
        readyPath: '/ready',
      })
      processes.push(router)
      // Each target's URL, and the process whose CPU it costs: for going direct, the model server's.
      const targets: [string, { url: string; pid: number }][] = [
        ['direct', backend],
        ['router', router],
      ]
      if (await ensureDebianProgram('nginx')) {
        const nginx = await startNginx(outDir, backend.url)
        processes.push(nginx)
        targets.push(['nginx', nginx])
      }
      if (await ensureDebianProgram('haproxy')) {
        const haproxy = await startHaproxy(outDir, backend.url)
        processes.push(haproxy)
        targets.push(['haproxy', haproxy])
      }

      const results: Measurement[] = []
      for (const mode of modes) {
        for (const concurrency of concurrencies) {
          const cells = new Map<string, Cell>()
          for (const [name, { url, pid }] of targets) {
            await applyLoad(url, concurrency, warmUpMs, mode)
            const cpuBefore = await cpuSeconds(pid)
            const load = await applyLoad(url, concurrency, cellMs, mode)
            cells.set(name, { ...load, cpuSeconds: (await cpuSeconds(pid)) - cpuBefore })
          }
          results.push(...compare(`${mode} c=${concurrency}`, cells))
        }
      }
      return results
    } finally {
      await Promise.all(processes.map((p) => p.stop()))
      await rm(outDir, { recursive: true, force: true })
    }
  },
}

/** A target's load in one cell, and the CPU time its process used meanwhile. */
interface Cell extends Load {
  cpuSeconds: number
}

/** Microseconds of the target process's CPU per successful request. */
const cpuPerRequest = (cell: Cell) => (cell.cpuSeconds * 1e6) / (cell.requests - cell.failures)

/** Completions from `concurrency` clients, each waiting for its answer before the next, for `durationMs`. */
export const applyLoad = (url: string, concurrency: number, durationMs: number, mode: Mode = 'whole'): Promise<Load> =>
  closedLoop({ concurrency, maxRequests: maxRequestsPerCell, durationMs }, async (n) =>
    (await completion(url, `benchmark prompt ${n}`, mode)) ? 1 : null,
  )

/**
 * One completion through Node's HTTP client on kept-alive connections (a fetch costs several
 * times the CPU, and the load generator shares the machine with what it measures): whether it
 * was answered 200 with all its tokens, or a stream that ended with `[DONE]`.
 */
function completion(url: string, prompt: string, mode: Mode): Promise<boolean> {
  const body = JSON.stringify({ prompt, max_tokens: maxTokens, ...(mode === 'streamed' ? { stream: true } : {}) })
  return new Promise((resolve) => {
    const outgoing = request(
      `${url}/v1/completions`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => resolve(response.statusCode === 200 && complete(text, mode)))
        response.on('error', () => resolve(false))
      },
    )
    outgoing.on('error', () => resolve(false))
    outgoing.end(body)
  })
}

const complete = (text: string, mode: Mode) =>
  mode === 'whole' ? text.includes(`"completion_tokens":${maxTokens}`) : text.endsWith('data: [DONE]\n\n')

/** Each target's figures in one cell (a mode and a concurrency), then the proxies against going direct and against nginx, from this same run. */
function compare(at: string, cells: Map<string, Cell>): Measurement[] {
  const results: Measurement[] = []
  for (const [name, cell] of cells) {
    results.push(
      { metric: `${at} ${name}: throughput`, value: throughput(cell), unit: 'requests/s' },
      { metric: `${at} ${name}: latency p50`, value: percentile(cell, 50), unit: 'ms' },
      { metric: `${at} ${name}: latency p99`, value: percentile(cell, 99), unit: 'ms' },
      { metric: `${at} ${name}: failed requests`, value: cell.failures, unit: 'count' },
      { metric: `${at} ${name}: CPU per request`, value: cpuPerRequest(cell), unit: 'µs' },
    )
  }
  const direct = cells.get('direct')!
  for (const proxy of proxies) {
    const cell = cells.get(proxy)
    if (!cell) continue
    results.push(
      { metric: `${at} ${proxy}/direct: throughput`, value: throughput(cell) / throughput(direct), unit: 'ratio' },
      { metric: `${at} ${proxy}: added latency p50`, value: percentile(cell, 50) - percentile(direct, 50), unit: 'ms' },
      { metric: `${at} ${proxy}: added latency p99`, value: percentile(cell, 99) - percentile(direct, 99), unit: 'ms' },
    )
  }
  const nginx = cells.get('nginx')
  if (!nginx) return results
  for (const proxy of proxies.filter((p) => p !== 'nginx' && cells.has(p)))
    results.push(
      {
        metric: `${at} ${proxy}/nginx: throughput`,
        value: throughput(cells.get(proxy)!) / throughput(nginx),
        unit: 'ratio',
      },
      {
        metric: `${at} ${proxy}/nginx: CPU per request`,
        value: cpuPerRequest(cells.get(proxy)!) / cpuPerRequest(nginx),
        unit: 'ratio',
      },
    )
  return results
}
