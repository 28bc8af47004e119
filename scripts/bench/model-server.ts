import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildWorkloads } from '../build-workloads.ts'
import type { Benchmark, Measurement } from './benchmark.ts'
import { startWorkload } from './workload-process.ts'

const concurrency = 32
const maxRequests = 20_000
const timeLimitMs = 10_000
const maxTokens = 16

interface LoadResult {
  requests: number
  failures: number
  generatedTokens: number
  seconds: number
  latenciesMs: number[]
}

/**
 * The model-server bundle (what the image runs) with zero modelled latency, so the figures are
 * the cost of the HTTP server, validation, logging and metrics themselves.
 */
export const modelServerBenchmark: Benchmark = {
  name: 'model-server',
  description: `non-streaming completions from ${concurrency} concurrent clients on loopback, zero modelled latency`,
  async run() {
    const outDir = await mkdtemp(join(tmpdir(), 'bench-workloads-'))
    try {
      const bundle = join(outDir, 'model-server.mjs')
      await buildWorkloads(outDir)
      const server = await startWorkload(process.execPath, [bundle, '--time-to-first-token-ms', '0', '--inter-token-latency-ms', '0'])
      try {
        await applyLoad(server.url, 500, timeLimitMs) // warm-up: JIT, connection pool
        const load = await applyLoad(server.url, maxRequests, timeLimitMs)
        const rssBytes = await residentMemoryBytes(server.url)
        return measurements(load, rssBytes)
      } finally {
        await server.stop()
      }
    } finally {
      await rm(outDir, { recursive: true, force: true })
    }
  },
}

/** Sends up to `requests` completions, `concurrency` at a time, until done or the time is up. */
async function applyLoad(url: string, requests: number, limitMs: number): Promise<LoadResult> {
  const result: LoadResult = { requests: 0, failures: 0, generatedTokens: 0, seconds: 0, latenciesMs: [] }
  const started = performance.now()
  const deadline = started + limitMs
  let issued = 0
  const client = async () => {
    while (issued < requests && performance.now() < deadline) {
      issued++
      const sent = performance.now()
      const response = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `benchmark prompt number ${issued}`, max_tokens: maxTokens }),
      }).catch(() => null)
      const body = response?.ok ? ((await response.json()) as { usage: { completion_tokens: number } }) : null
      if (response && !body) await response.body?.cancel()
      result.requests++
      if (!body) {
        result.failures++
        continue
      }
      result.generatedTokens += body.usage.completion_tokens
      result.latenciesMs.push(performance.now() - sent)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client))
  result.seconds = (performance.now() - started) / 1000
  return result
}

async function residentMemoryBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes '))
  return line ? Number(line.split(' ')[1]) : Number.NaN
}

function measurements(load: LoadResult, rssBytes: number): Measurement[] {
  const sorted = [...load.latenciesMs].sort((a, b) => a - b)
  const percentile = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
  return [
    { metric: 'requests', value: load.requests, unit: 'count' },
    { metric: 'failed requests', value: load.failures, unit: 'count' },
    { metric: 'throughput', value: (load.requests - load.failures) / load.seconds, unit: 'requests/s' },
    { metric: 'generated tokens', value: load.generatedTokens / load.seconds, unit: 'tokens/s' },
    { metric: 'latency p50', value: percentile(50), unit: 'ms' },
    { metric: 'latency p99', value: percentile(99), unit: 'ms' },
    { metric: 'resident memory after load', value: rssBytes / 1024 / 1024, unit: 'MiB' },
  ]
}
