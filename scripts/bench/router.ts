import { spawn } from 'node:child_process'
import { Agent, request } from 'node:http'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { buildWorkloads } from '../lib/build/workloads.ts'
import { hasProgram } from '../lib/exec.ts'
import { freePort, startWorkload } from '../lib/workload-process.ts'
import type { Benchmark, Measurement } from './benchmark.ts'
import { closedLoop, percentile, throughput, type Load } from './load.ts'
import { zeroLatency } from './model-server.ts'

const concurrencies = [1, 16, 64]
const cellMs = 4_000
const warmUpMs = 1_000
const maxRequestsPerCell = 50_000
const agent = new Agent({ keepAlive: true })

/**
 * What the router costs: the same completions sent straight to one model server (zero modelled
 * latency), through the router, and through Debian's nginx as a reverse proxy to that server,
 * at 1, 16 and 64 concurrent connections. One backend, so the only difference between the rows
 * is the proxy hop. Everything, the load generator included, shares this machine's CPUs.
 */
export const routerBenchmark: Benchmark = {
  name: 'router',
  description: `completions direct, through the router and through nginx to one model server, at ${concurrencies.join(', ')} concurrent connections`,
  async run() {
    const outDir = await mkdtemp(join(tmpdir(), 'bench-router-'))
    const processes: { stop(): Promise<unknown> }[] = []
    try {
      await buildWorkloads(outDir)
      const backend = await startWorkload(process.execPath, [join(outDir, 'model-server.mjs'), ...zeroLatency])
      processes.push(backend)
      const router = await startWorkload(process.execPath, [join(outDir, 'router.mjs'), '--backends', backend.url], {
        readyPath: '/ready',
      })
      processes.push(router)
      const nginx = (await hasProgram('nginx')) ? await startNginx(outDir, backend.url) : null
      if (nginx) processes.push(nginx)
      else console.log('  nginx is not installed (apt-get install -y nginx): skipping the nginx rows')

      const targets: [string, string][] = [
        ['direct', backend.url],
        ['router', router.url],
        ...(nginx ? [['nginx', nginx.url] as [string, string]] : []),
      ]
      const results: Measurement[] = []
      for (const concurrency of concurrencies) {
        const cells = new Map<string, Load>()
        for (const [name, url] of targets) {
          await applyLoad(url, concurrency, warmUpMs)
          cells.set(name, await applyLoad(url, concurrency, cellMs))
        }
        results.push(...compare(concurrency, cells))
      }
      return results
    } finally {
      await Promise.all(processes.map((p) => p.stop()))
      await rm(outDir, { recursive: true, force: true })
    }
  },
}

/** nginx on loopback as this user's own process: a temporary prefix and config, `daemon off`, one worker (the router is one process too). */
async function startNginx(dir: string, backendUrl: string): Promise<{ url: string; stop(): Promise<unknown> }> {
  const prefix = join(dir, 'nginx')
  await mkdir(prefix)
  // Run as root, nginx's workers switch to an unprivileged user that must reach the temporary files.
  await chmod(dir, 0o755)
  await chmod(prefix, 0o755)
  const port = await freePort()
  const config = `
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/client-body;
  proxy_temp_path ${prefix}/proxy;
  upstream backends {
    server ${new URL(backendUrl).host};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`
  await writeFile(join(prefix, 'nginx.conf'), config)
  const child = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], {
    stdio: 'ignore',
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT') // nginx's graceful stop
    return exited
  }
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}; see ${prefix}/error.log`)
    if (
      (await fetch(`${url}/health`).then(
        (r) => r.status,
        () => 0,
      )) === 200
    )
      return { url, stop }
    await delay(100)
  }
  await stop()
  throw new Error('nginx did not answer within 10 s')
}

/** Completions from `concurrency` clients, each waiting for its answer before the next, for `durationMs`. */
export const applyLoad = (url: string, concurrency: number, durationMs: number): Promise<Load> =>
  closedLoop({ concurrency, maxRequests: maxRequestsPerCell, durationMs }, async (n) =>
    (await completion(url, `benchmark prompt ${n}`)) ? 1 : null,
  )

/**
 * One completion through Node's HTTP client on kept-alive connections: a fetch costs several
 * times the CPU, and the load generator shares the machine with what it measures.
 */
function completion(url: string, prompt: string): Promise<boolean> {
  const body = JSON.stringify({ prompt, max_tokens: 16 })
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
        response.on('end', () => resolve(response.statusCode === 200 && text.includes('"completion_tokens":16')))
        response.on('error', () => resolve(false))
      },
    )
    outgoing.on('error', () => resolve(false))
    outgoing.end(body)
  })
}

/** Each target's figures at one concurrency, then the proxies against going direct, from this same run. */
function compare(concurrency: number, cells: Map<string, Load>): Measurement[] {
  const at = `c=${concurrency}`
  const results: Measurement[] = []
  for (const [name, cell] of cells) {
    results.push(
      { metric: `${at} ${name}: throughput`, value: throughput(cell), unit: 'requests/s' },
      { metric: `${at} ${name}: latency p50`, value: percentile(cell, 50), unit: 'ms' },
      { metric: `${at} ${name}: latency p99`, value: percentile(cell, 99), unit: 'ms' },
      { metric: `${at} ${name}: failed requests`, value: cell.failures, unit: 'count' },
    )
  }
  const direct = cells.get('direct')!
  for (const proxy of ['router', 'nginx']) {
    const cell = cells.get(proxy)
    if (!cell) continue
    results.push(
      { metric: `${at} ${proxy}/direct: throughput`, value: throughput(cell) / throughput(direct), unit: 'ratio' },
      {
        metric: `${at} ${proxy}/direct: latency p50`,
        value: percentile(cell, 50) / percentile(direct, 50),
        unit: 'ratio',
      },
      {
        metric: `${at} ${proxy}/direct: latency p99`,
        value: percentile(cell, 99) / percentile(direct, 99),
        unit: 'ratio',
      },
      { metric: `${at} ${proxy}: added latency p50`, value: percentile(cell, 50) - percentile(direct, 50), unit: 'ms' },
      { metric: `${at} ${proxy}: added latency p99`, value: percentile(cell, 99) - percentile(direct, 99), unit: 'ms' },
    )
  }
  const router = cells.get('router')!
  const nginx = cells.get('nginx')
  if (nginx)
    results.push({
      metric: `${at} router/nginx: throughput`,
      value: throughput(router) / throughput(nginx),
      unit: 'ratio',
    })
  return results
}
