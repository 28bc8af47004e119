import { Agent, request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildWorkloads } from '../lib/build/workloads.ts'
import { startWorkload } from '../lib/workload-process.ts'
import type { WorkloadProcess } from '../lib/workload-process.ts'
import type { Benchmark, Measurement } from './benchmark.ts'

const model = 'bench-model'
const bursts = 25
const burstSize = 16
const prefixes = Array.from({ length: 4 }, (_, p) => Array.from({ length: 200 }, (_, i) => `b${p}t${i}`).join(' '))

/**
 * The frontend's two choices, measured: with and without a batch window, and KV-aware against
 * round robin. Two model servers (4 sequences each, prefill 0.2 ms per uncached token) behind the
 * frontend; bursts of 16 streamed requests arrive together, each with one of four 200-token
 * prefixes and a priority from 0 to 3. The figures are the mean time to first token (by
 * priority, and over all) as the client sees it. Everything shares this machine's CPUs.
 */
export const frontendBenchmark: Benchmark = {
  name: 'frontend',
  description: `${bursts} bursts of ${burstSize} prefix-sharing requests of mixed priority: batch window 0 and 5 ms, kv and round-robin`,
  async run() {
    const outDir = await mkdtemp(join(tmpdir(), 'bench-frontend-'))
    try {
      await buildWorkloads(outDir)
      const results: Measurement[] = []
      for (const [policy, windowMs] of [
        ['kv', 0],
        ['kv', 5],
        ['round-robin', 0],
      ] as const) {
        const times = await runBursts(outDir, policy, windowMs)
        const label = `${policy}, window ${windowMs} ms`
        const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length
        results.push({ metric: `${label}: TTFT mean`, value: mean(times.flat()), unit: 'ms' })
        times.forEach((values, priority) =>
          results.push({ metric: `${label}: TTFT mean, priority ${priority}`, value: mean(values), unit: 'ms' }),
        )
      }
      return results
    } finally {
      await rm(outDir, { recursive: true, force: true })
    }
  },
}

/** Time to first token of every request, by priority. */
async function runBursts(outDir: string, policy: string, windowMs: number): Promise<number[][]> {
  const processes: WorkloadProcess[] = []
  const agent = new Agent({ keepAlive: true, maxSockets: burstSize })
  try {
    for (let i = 0; i < 2; i++) {
      processes.push(
        await startWorkload(process.execPath, [
          join(outDir, 'model-server.mjs'),
          '--served-model-name',
          model,
          '--max-num-seqs',
          '4',
          '--time-to-first-token-ms',
          '0',
          '--prefill-time-per-token-ms',
          '0.2',
          '--inter-token-latency-ms',
          '2',
          '--scheduling-policy',
          'priority',
          '--log-level',
          'warn',
        ]),
      )
    }
    const frontend = await startWorkload(
      process.execPath,
      [
        join(outDir, 'frontend.mjs'),
        '--backends',
        processes.map((p) => p.url).join(','),
        '--policy',
        policy,
        '--batch-window-ms',
        String(windowMs),
        '--log-level',
        'warn',
      ],
      { readyPath: '/ready' },
    )
    processes.push(frontend)
    const times: number[][] = [[], [], [], []]
    let seed = 7
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
    for (let burst = 0; burst < bursts; burst++) {
      await Promise.all(
        Array.from({ length: burstSize }, async (_, i) => {
          const priority = Math.floor(random() * 4)
          const prompt = `${prefixes[Math.floor(random() * prefixes.length)]} question ${burst} ${i}`
          const body = { model, prompt, max_tokens: 4, stream: true, priority }
          times[priority]!.push(await firstByteMs(frontend.url, agent, body))
        }),
      )
    }
    return times
  } finally {
    agent.destroy()
    await Promise.all(processes.map((p) => p.stop()))
  }
}

/** Milliseconds from sending a streamed completion to the first byte of its answer; the rest is read and dropped. */
function firstByteMs(base: string, agent: Agent, body: object): Promise<number> {
  const sent = performance.now()
  return new Promise((resolve, reject) => {
    const outgoing = request(`${base}/v1/completions`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json' },
    })
    outgoing.on('response', (response) => {
      let first: number | null = null
      response.on('data', () => (first ??= performance.now() - sent))
      response.on('end', () =>
        response.statusCode === 200 && first !== null
          ? resolve(first)
          : reject(new Error(`answered ${response.statusCode}`)),
      )
    })
    outgoing.on('error', reject)
    outgoing.end(JSON.stringify(body))
  })
}
