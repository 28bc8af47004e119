// Helpers for the frontend suites: the frontend as a real process, a client that sends through
// Node's own HTTP client on kept-alive sockets and reports how each request ended, and the
// frontend's metrics summed over their labels.
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import type { Agent } from 'node:http'
import { startWorkload } from '../../scripts/lib/workload-process.ts'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import { backendHeader } from '../../workloads/router/proxy.ts'
import { startModelServer } from './model-server-helpers.ts'

export { model } from './model-server-helpers.ts'

/** Model servers that answer at once and saturate quickly: a small batch, no prefill time. */
export function startSmallModelServer(flags: string[] = []): Promise<WorkloadProcess> {
  return startModelServer([
    '--max-num-seqs',
    '2',
    '--time-to-first-token-ms',
    '0',
    '--prefill-time-per-token-ms',
    '0',
    '--inter-token-latency-ms',
    '1',
    '--load-slowdown',
    '0',
    // The frontend passes the body's priority on: vLLM's fcfs scheduler refuses one other than 0.
    '--scheduling-policy',
    'priority',
    '--log-level',
    'warn',
    ...flags,
  ])
}

export function startFrontend(backends: WorkloadProcess[], flags: string[] = []): Promise<WorkloadProcess> {
  return startWorkload(
    process.execPath,
    [
      '--import',
      'tsx',
      'workloads/frontend/main.ts',
      '--backends',
      backends.map((b) => b.url).join(','),
      '--health-interval-ms',
      '200',
      '--health-timeout-ms',
      '150',
      '--log-level',
      'warn',
      ...flags,
    ],
    { cwd: repoRoot, env: { PATH: process.env.PATH }, readyPath: '/ready' },
  )
}

/** How a request ended, as the client saw it. */
export type Outcome = 'answered' | 'rejected' | 'expired' | 'cancelled' | 'refused' | 'error'

export interface Ended {
  outcome: Outcome
  status: number
  backend: string | null
  /** The error's code for an error answer (or a stream's error event). */
  code: string | null
  retryAfter: string | null
  /** When it was sent, on this process's performance clock. */
  startedAt: number
  /** Milliseconds from sending to the end. */
  elapsedMs: number
  /** Milliseconds from sending to the first byte of the answer's body; null without one. */
  firstByteMs: number | null
}

export interface Sent {
  path?: string
  body: object
  headers?: Record<string, string>
  /** The client gives up (destroys its request) after this many milliseconds. */
  abortAfterMs?: number
}

/**
 * One request through a kept-alive agent, settled exactly once with how it ended: a complete
 * answer (a stream must end with `[DONE]` and carry no error event), 429, 504, 503, a request
 * the client itself cancelled, or anything else as an error.
 */
export function send(base: string, agent: Agent, sent: Sent): Promise<Ended> {
  const started = performance.now()
  return new Promise((resolve) => {
    let settled = false
    let firstByteMs: number | null = null
    const finish = (ended: Omit<Ended, 'startedAt' | 'elapsedMs' | 'firstByteMs'>) => {
      if (settled) throw new Error('a request ended twice')
      settled = true
      clearTimeout(timer)
      resolve({ ...ended, startedAt: started, elapsedMs: performance.now() - started, firstByteMs })
    }
    const payload = JSON.stringify(sent.body)
    const request = httpRequest(`${base}${sent.path ?? '/v1/completions'}`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', ...sent.headers },
    })
    let cancelled = false
    const timer =
      sent.abortAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            cancelled = true
            request.destroy()
          }, sent.abortAfterMs)
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => {
        firstByteMs ??= performance.now() - started
        chunks.push(chunk)
      })
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const status = response.statusCode ?? 0
        const backend = (response.headers[backendHeader] as string | undefined) ?? null
        const retryAfter = (response.headers['retry-after'] as string | undefined) ?? null
        const code = errorCode(text)
        const stream = String(response.headers['content-type']).startsWith('text/event-stream')
        let outcome: Outcome = 'error'
        if (status === 200 && code === null && (!stream || text.endsWith('data: [DONE]\n\n'))) outcome = 'answered'
        else if (status === 429) outcome = 'rejected'
        // A deadline ends a request with a 504, or, once its stream began, with an error event.
        else if (status === 504 || (status === 200 && stream && code === 'upstream_timeout')) outcome = 'expired'
        else if (status === 503) outcome = 'refused'
        finish({ outcome, status, backend, code, retryAfter })
      })
      response.on('error', () => {})
      response.on('aborted', () => {})
    })
    request.on('close', () => {
      if (!settled && cancelled)
        finish({ outcome: 'cancelled', status: 0, backend: null, code: null, retryAfter: null })
    })
    request.on('error', (error) => {
      if (settled || cancelled) return
      finish({ outcome: 'error', status: 0, backend: null, code: error.message, retryAfter: null })
    })
    request.end(payload)
  })
}

/** The `code` of an error body, or of a stream's error event; null when there is none. */
function errorCode(text: string): string | null {
  for (const candidate of [
    text,
    ...text
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => l.slice(6)),
  ]) {
    try {
      const parsed = JSON.parse(candidate) as { error?: { code?: string | null; type?: string } }
      if (parsed.error) return parsed.error.code ?? parsed.error.type ?? 'error'
    } catch {
      // not JSON
    }
  }
  return null
}

/** The frontend's metrics, each series summed over the labels not named. */
export async function frontendMetrics(frontend: WorkloadProcess) {
  const text = await (await fetch(`${frontend.url}/metrics`)).text()
  const series = text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line)!
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
      return { name: match[1]!, labels, value: Number(match[3]) }
    })
  return (name: string, labels: Record<string, string> = {}) =>
    series
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0)
}

/** Connections clients hold open to a port on this machine (server side, ESTABLISHED), from /proc/net/tcp. */
export function openConnectionsTo(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  let count = 0
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 4) continue
      if (fields[1]!.endsWith(`:${hexPort}`) && fields[3] === '01') count++
    }
  }
  return count
}

/** A small seeded generator, so a failing run can be run again the same way. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
