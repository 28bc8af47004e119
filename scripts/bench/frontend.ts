import { Agent } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildWorkloads } from '../lib/build/workloads.ts'
import { startWorkload } from '../lib/workload-process.ts'
import type { WorkloadProcess } from '../lib/workload-process.ts'
import type { Benchmark, Measurement } from './benchmark.ts'
import { chatShape, runConversations } from './chat-workload.ts'
import { percentile, percentileOf, throughput, type Load } from './load.ts'
import { readMetric } from './metrics.ts'
import { zeroLatency } from './model-server.ts'
import { applyLoad } from './router.ts'
import { streamed } from './stream.ts'

const model = 'bench-model'
const bursts = 25
const burstSize = 16
const prefixes = Array.from({ length: 4 }, (_, p) => Array.from({ length: 200 }, (_, i) => `b${p}t${i}`).join(' '))
const chatPolicies = ['kv', 'round-robin', 'prefix-aware']
const chatServers = 3
/**
 * 16k tokens of KV cache per server: the conversations' prompts fit in the three servers
 * together, but not once per server, so where a turn goes decides what stays cached.
 */
const chatGpuBlocks = 1024
const overheadConcurrency = { latency: 1, saturating: 64 }
const overheadCellMs = 3_000
const warmUpMs = 1_000

/** Modelled latency that makes caching matter: 0.2 ms of prefill per uncached prompt token, 2 ms per generated token. */
const modelledLatency = [
  '--time-to-first-token-ms',
  '0',
  '--prefill-time-per-token-ms',
  '0.2',
  '--inter-token-latency-ms',
  '2',
]

/**
 * The frontend, measured. Its two choices: with and without a batch window, and KV-aware against
 * round robin, on bursts of 16 streamed requests with one of four 200-token prefixes and a
 * priority from 0 to 3, behind two model servers (4 sequences each); the mean time to first token
 * by priority. Its policies on chat: conversations sharing a few long system prompts, each turn
 * resending the earlier ones, behind three such servers; prefix-cache hit rate, TTFT p50/p99 and
 * throughput. Its cost: completions direct to a zero-latency model server and through the
 * frontend, one at a time (added latency) and 64 at a time (its maximum throughput). Everything,
 * the load generator included, shares this machine's CPUs.
 */
export const frontendBenchmark: Benchmark = {
  name: 'frontend',
  description: `${bursts} bursts of ${burstSize} prefix-sharing requests of mixed priority (batch window 0 and 5 ms, kv and round-robin); ${chatShape.conversations} chats of ${chatShape.turns} turns over ${chatShape.systemPrompts} system prompts (${chatPolicies.join(', ')}); the frontend's added latency and maximum throughput`,
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
      for (const policy of chatPolicies) results.push(...(await runChats(outDir, policy)))
      results.push(...(await measureOverhead(outDir)))
      return results
    } finally {
      await rm(outDir, { recursive: true, force: true })
    }
  },
}

/** `count` model-server bundles with `flags`, and the frontend bundle in front of them. */
async function startStack(
  outDir: string,
  count: number,
  flags: readonly string[],
  frontendFlags: readonly string[],
): Promise<{ servers: WorkloadProcess[]; frontend: WorkloadProcess; stop(): Promise<unknown> }> {
  const servers: WorkloadProcess[] = []
  const stop = () => Promise.all(servers.map((p) => p.stop()))
  try {
    for (let i = 0; i < count; i++) {
      servers.push(
        await startWorkload(process.execPath, [
          join(outDir, 'model-server.mjs'),
          '--served-model-name',
          model,
          ...flags,
          '--log-level',
          'warn',
        ]),
      )
    }
    const backends = servers.map((p) => p.url).join(',')
    const frontend = await startWorkload(
      process.execPath,
      [join(outDir, 'frontend.mjs'), '--backends', backends, ...frontendFlags, '--log-level', 'warn'],
      { readyPath: '/ready' },
    )
    return { servers, frontend, stop: () => Promise.all([frontend.stop(), stop()]) }
  } catch (error) {
    await stop()
    throw error
  }
}

/** Time to first token of every request, by priority. */
async function runBursts(outDir: string, policy: string, windowMs: number): Promise<number[][]> {
  const stack = await startStack(
    outDir,
    2,
    ['--max-num-seqs', '4', ...modelledLatency, '--scheduling-policy', 'priority'],
    ['--policy', policy, '--batch-window-ms', String(windowMs)],
  )
  const agent = new Agent({ keepAlive: true, maxSockets: burstSize })
  try {
    const times: number[][] = [[], [], [], []]
    let seed = 7
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
    for (let burst = 0; burst < bursts; burst++) {
      await Promise.all(
        Array.from({ length: burstSize }, async (_, i) => {
          const priority = Math.floor(random() * 4)
          const prompt = `${prefixes[Math.floor(random() * prefixes.length)]} question ${burst} ${i}`
          const body = { model, prompt, max_tokens: 4, stream: true, priority }
          times[priority]!.push((await streamed(stack.frontend.url, '/v1/completions', agent, body)).firstTokenMs)
        }),
      )
    }
    return times
  } finally {
    agent.destroy()
    await stack.stop()
  }
}

/** The chat workload through the frontend with `policy`, on fresh servers (empty caches). */
async function runChats(outDir: string, policy: string): Promise<Measurement[]> {
  const stack = await startStack(
    outDir,
    chatServers,
    ['--max-num-seqs', '4', '--num-gpu-blocks', String(chatGpuBlocks), ...modelledLatency],
    ['--policy', policy],
  )
  const agent = new Agent({ keepAlive: true, maxSockets: chatShape.concurrency })
  try {
    const before = await prefixCacheCounters(stack.servers)
    const run = await runConversations(stack.frontend.url, agent, model)
    const after = await prefixCacheCounters(stack.servers)
    const label = `chat, ${policy}`
    return [
      {
        metric: `${label}: prefix-cache hit rate`,
        value: (after.hits - before.hits) / (after.queries - before.queries),
        unit: 'ratio',
      },
      { metric: `${label}: TTFT p50`, value: percentileOf(run.firstTokenMs, 50), unit: 'ms' },
      { metric: `${label}: TTFT p99`, value: percentileOf(run.firstTokenMs, 99), unit: 'ms' },
      { metric: `${label}: throughput`, value: run.firstTokenMs.length / run.seconds, unit: 'requests/s' },
      { metric: `${label}: output`, value: run.outputTokens / run.seconds, unit: 'tokens/s' },
      { metric: `${label}: failed conversations`, value: run.failures, unit: 'count' },
    ]
  } finally {
    agent.destroy()
    await stack.stop()
  }
}

/** Prompt tokens the servers found cached, and looked up, summed over them. */
async function prefixCacheCounters(servers: readonly WorkloadProcess[]): Promise<{ hits: number; queries: number }> {
  const read = (name: string) => Promise.all(servers.map((s) => readMetric(s.url, name)))
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)
  return {
    hits: sum(await read('vllm:prefix_cache_hits_total')),
    queries: sum(await read('vllm:prefix_cache_queries_total')),
  }
}

/**
 * What the frontend costs: the router entry's completions, direct to one zero-latency model
 * server and through the frontend, one at a time for the added latency, then at a concurrency
 * that saturates the frontend (the server runs up to 1024 at once, so it is not the limit).
 */
async function measureOverhead(outDir: string): Promise<Measurement[]> {
  const stack = await startStack(outDir, 1, [...zeroLatency, '--max-num-seqs', '1024'], [])
  try {
    const direct = stack.servers[0]!.url
    const frontend = stack.frontend.url
    const measure = async (url: string, concurrency: number) => {
      await applyLoad(url, concurrency, warmUpMs)
      return applyLoad(url, concurrency, overheadCellMs)
    }
    const latency = {
      direct: await measure(direct, overheadConcurrency.latency),
      frontend: await measure(frontend, overheadConcurrency.latency),
    }
    const saturated = {
      direct: await measure(direct, overheadConcurrency.saturating),
      frontend: await measure(frontend, overheadConcurrency.saturating),
    }
    return overheadMeasurements(latency, saturated)
  } finally {
    await stack.stop()
  }
}

/** The frontend's added latency at one connection, and both targets' throughput when saturated. */
function overheadMeasurements(
  latency: { direct: Load; frontend: Load },
  saturated: { direct: Load; frontend: Load },
): Measurement[] {
  const one = `c=${overheadConcurrency.latency}`
  const many = `c=${overheadConcurrency.saturating}`
  return [
    ...[50, 99].map((p) => ({
      metric: `${one} frontend: added latency p${p}`,
      value: percentile(latency.frontend, p) - percentile(latency.direct, p),
      unit: 'ms',
    })),
    ...Object.entries(latency).map(([name, load]) => ({
      metric: `${one} ${name}: latency p50`,
      value: percentile(load, 50),
      unit: 'ms',
    })),
    ...Object.entries(saturated).flatMap(([name, load]) => [
      { metric: `${many} ${name}: throughput`, value: throughput(load), unit: 'requests/s' },
      { metric: `${many} ${name}: failed requests`, value: load.failures, unit: 'count' },
    ]),
  ]
}
