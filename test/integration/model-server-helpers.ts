// Helpers for the model-server suites: the server as a real process, its metrics through a real
// Prometheus text-format parser, and bounded waits that poll instead of timing anything.
import { get as httpGet } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { createRequire } from 'node:module'
import { setTimeout as delay } from 'node:timers/promises'
import { startWorkload } from '../../scripts/lib/workload-process.ts'
import type { StartOptions, WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { repoRoot } from '../../scripts/lib/project.ts'

export const model = 'lab-model'
/** What a Kubernetes Secret gives every rank of a group (GROUP_SECRET). */
export const groupSecret = 'lab-group-secret-for-tests'

/** What parse-prometheus-text-format returns (it ships no types): one family per metric name. */
interface MetricFamily {
  name: string
  type: string
  metrics: {
    value?: string
    labels?: Record<string, string>
    buckets?: Record<string, string>
    count?: string
    sum?: string
  }[]
}
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => MetricFamily[]

/** The model-server from source, run through tsx's loader, with an environment of our own. */
export function startModelServer(
  flags: string[] = [],
  env: Record<string, string> = {},
  { host, timeoutMs }: Pick<StartOptions, 'host' | 'timeoutMs'> = {},
): Promise<WorkloadProcess> {
  return startWorkload(
    process.execPath,
    ['--import', 'tsx', 'workloads/model-server/main.ts', '--served-model-name', model, ...flags],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, ...env },
      host,
      timeoutMs,
    },
  )
}

/** A completion or an error, as the tests read them. */
export interface ApiBody {
  object?: string
  choices?: {
    index: number
    text?: string
    message?: { role: string; content: string }
    logprobs: null
    finish_reason: string
  }[]
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
  error?: { message: string; type: string; param: string | null; code: string | null }
}

export async function send(server: WorkloadProcess, method: string, path: string, body?: string) {
  const response = await fetch(server.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body,
  })
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    json: (await response.json()) as ApiBody,
  }
}

export const complete = (server: WorkloadProcess, request: object) =>
  send(server, 'POST', '/v1/completions', JSON.stringify(request))

/** One scrape of `/metrics`: the value of a counter or gauge, or a histogram's count. */
export async function scrape(server: WorkloadProcess) {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  // The parser folds a histogram's series into one only when `le` is their sole label, and
  // drops `_count` and `_sum` otherwise. Without their TYPE lines, a histogram's `_bucket`,
  // `_sum` and `_count` series parse as plain families of their own, labels intact.
  const histograms = new Set([...text.matchAll(/^# TYPE (\S+) histogram$/gm)].map((match) => match[1]!))
  const kept = text.split('\n').filter((line) => !/^# (HELP|TYPE) /.test(line) || !histograms.has(line.split(' ')[2]!))
  const families = parsePrometheusTextFormat(kept.join('\n'))
  const find = (name: string, labels: Record<string, string>) => {
    const family = families.find((f) => f.name === name)
    if (!family) throw new Error(`no metric named ${name}; there are ${families.map((f) => f.name).join(', ')}`)
    const metric = family.metrics.find((m) => Object.entries(labels).every(([key, value]) => m.labels?.[key] === value))
    if (!metric) throw new Error(`no ${name} series with labels ${JSON.stringify(labels)}`)
    return metric
  }
  return {
    value: (name: string, labels: Record<string, string> = { model_name: model }) => Number(find(name, labels).value),
    /** A histogram's number of observations. */
    count: (name: string, labels: Record<string, string> = { model_name: model }) =>
      Number(find(`${name}_count`, labels).value),
    type: (name: string) => (histograms.has(name) ? 'HISTOGRAM' : families.find((f) => f.name === name)?.type),
  }
}

export async function metric(server: WorkloadProcess, name: string, labels?: Record<string, string>): Promise<number> {
  return (await scrape(server)).value(name, labels)
}

/** Polls `check` until it returns something other than false/undefined, or fails after `timeoutMs` saying what it waited for. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | false | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const result = await check()
      if (result !== false && result !== undefined) return result
    } catch (error) {
      last = error
    }
    await delay(50)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
}

/** The JSON log lines a process printed. */
export function logLines(server: WorkloadProcess): { level: number; msg: string; [key: string]: unknown }[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
}

/** A server-sent event as a client reads it: its name and its data, parsed as JSON. */
export interface ServerSentEvent {
  event: string
  data: unknown
}

/**
 * A real SSE client of `path`: reads the stream as it arrives and hands its events out one at a
 * time; comments (`: keep-alive`) are kept apart. `ended` settles when the stream is over. Built
 * on node:http rather than fetch: fetch's `abort` leaves the server a fresh idle connection, which
 * would hold the server's drain until its headers timeout.
 */
export async function openEventStream(server: WorkloadProcess, path: string) {
  const request = httpGet(server.url + path, { headers: { accept: 'text/event-stream' } })
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve)
    request.once('error', reject)
  })
  const events: ServerSentEvent[] = []
  const comments: string[] = []
  let wake = () => {}
  let done = false
  let buffer = ''
  const parse = (block: string) => {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line)
      else if (line.startsWith('event: ')) event = line.slice('event: '.length)
      else if (line.startsWith('data: ')) data.push(line.slice('data: '.length))
    }
    if (data.length > 0) events.push({ event, data: JSON.parse(data.join('\n')) })
  }
  response.setEncoding('utf8')
  const ok = response.statusCode === 200
  if (ok) {
    response.on('data', (chunk: string) => {
      buffer += chunk
      for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
        parse(buffer.slice(0, at))
        buffer = buffer.slice(at + 2)
      }
      wake()
    })
  }
  const ended = new Promise<void>((resolve) =>
    response.once('close', () => {
      done = true
      wake()
      resolve()
    }),
  )
  return {
    status: response.statusCode ?? 0,
    contentType: response.headers['content-type'] ?? null,
    /** The error body of a refused stream. */
    async json(): Promise<ApiBody | null> {
      if (ok) return null
      let text = ''
      for await (const chunk of response) text += chunk
      return JSON.parse(text) as ApiBody
    },
    comments,
    ended,
    /** The next event, waiting up to `timeoutMs` for it. */
    async next(timeoutMs = 10_000): Promise<ServerSentEvent> {
      const deadline = Date.now() + timeoutMs
      while (events.length === 0) {
        if (done) throw new Error(`the stream ${path} ended`)
        if (Date.now() > deadline) throw new Error(`no event on ${path} within ${timeoutMs} ms`)
        await Promise.race([new Promise<void>((resolve) => (wake = resolve)), delay(100)])
      }
      return events.shift()!
    },
    /** Closes the connection, as a client that goes away. */
    close: () => request.destroy(),
  }
}
