// The model-server as a real process on a loopback port, driven over HTTP. Needs no cluster.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildWorkloads } from '../../scripts/build-workloads.ts'
import { startWorkload } from '../../scripts/bench/workload-process.ts'
import type { WorkloadProcess } from '../../scripts/bench/workload-process.ts'
import { repoRoot } from '../../scripts/lib/project.ts'

const model = 'lab-model'

/** The model-server from source, run through tsx's loader, with an environment of our own. */
function startModelServer(...flags: string[]): Promise<WorkloadProcess> {
  return startWorkload(process.execPath, ['--import', 'tsx', 'workloads/model-server/main.ts', '--served-model-name', model, ...flags], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH },
  })
}

/** What the tests read from an answer: a completion or an error. */
interface ApiBody {
  object?: string
  choices?: { index: number; text: string; logprobs: null; finish_reason: string }[]
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
  error?: { message: string; type: string; param: string | null; code: string | null }
}

async function post(server: WorkloadProcess, path: string, body: string) {
  const response = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  return { status: response.status, contentType: response.headers.get('content-type'), json: (await response.json()) as ApiBody }
}

const complete = (server: WorkloadProcess, request: object) => post(server, '/v1/completions', JSON.stringify(request))

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** The samples of Prometheus' text format, one per line; enough for these tests. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!match) continue
    const labels: Record<string, string> = {}
    for (const [, key, raw] of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return samples
}

async function metric(server: WorkloadProcess, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const samples = parseMetrics(await (await fetch(`${server.url}/metrics`)).text())
  const sample = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return sample?.value
}

describe('model-server API', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer('--time-to-first-token-ms', '0', '--inter-token-latency-ms', '1')
  })
  afterAll(() => server?.stop())

  it('lists the served model', async () => {
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { object: string; data: { id: string; object: string; max_model_len: number }[] }
    expect(models.object).toBe('list')
    expect(models.data).toEqual([expect.objectContaining({ id: model, object: 'model', max_model_len: 8192 })])
  })

  it('answers a completion in OpenAI shape, generating max_tokens tokens', async () => {
    const { status, json } = await complete(server, { model, prompt: 'Hello there, model!', max_tokens: 7, temperature: 0.2 })
    expect(status).toBe(200)
    expect(json).toMatchObject({ object: 'text_completion', model, id: expect.stringMatching(/^cmpl-/) })
    expect(json.choices).toEqual([{ index: 0, text: expect.any(String), logprobs: null, finish_reason: 'length' }])
    expect(json.usage).toEqual({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 })
  })

  it('answers each prompt of a list, counting all of them in usage', async () => {
    const { status, json } = await complete(server, { model, prompt: ['one', 'two'], max_tokens: 3 })
    expect(status).toBe(200)
    expect(json.choices?.map((c) => c.index)).toEqual([0, 1])
    expect(json.usage).toEqual({ prompt_tokens: 2, completion_tokens: 6, total_tokens: 8 })
  })

  it('answers an unknown model with 404 in OpenAI error shape', async () => {
    const { status, json } = await complete(server, { model: 'gpt-4', prompt: 'hi' })
    expect(status).toBe(404)
    expect(json.error).toEqual({ message: 'The model `gpt-4` does not exist.', type: 'NotFoundError', param: 'model', code: 'model_not_found' })
  })

  it('answers malformed JSON with a 400 JSON error', async () => {
    const { status, contentType, json } = await post(server, '/v1/completions', '{"prompt": "unfinished')
    expect(status).toBe(400)
    expect(contentType).toMatch(/^application\/json/)
    expect(json.error?.type).toBe('invalid_request_error')
  })

  it('answers fields of the wrong type with a 400 naming the field', async () => {
    const maxTokens = await complete(server, { model, prompt: 'hi', max_tokens: 'ten' })
    expect(maxTokens.status).toBe(400)
    expect(maxTokens.json.error).toMatchObject({ type: 'invalid_request_error', param: 'max_tokens' })
    const prompt = await complete(server, { model, prompt: 42 })
    expect(prompt.status).toBe(400)
    expect(prompt.json.error?.param).toBe('prompt')
  })

  it('answers a body over the limit with 413', async () => {
    const { status, json } = await complete(server, { model, prompt: 'x'.repeat(1.5 * 1024 * 1024) })
    expect(status).toBe(413)
    expect(json.error?.type).toBe('invalid_request_error')
  })

  it('answers an unknown route with 404 in OpenAI error shape', async () => {
    const response = await fetch(`${server.url}/v1/embeddings`)
    expect(response.status).toBe(404)
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain('/v1/embeddings')
  })

  it('answers /health with 200 and an empty body, like vLLM', async () => {
    const response = await fetch(`${server.url}/health`)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('')
  })
})

describe('model-server metrics', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer('--time-to-first-token-ms', '0', '--inter-token-latency-ms', '0')
  })
  afterAll(() => server?.stop())

  it('counts successful requests, and their tokens, under vLLM names', async () => {
    const requests = 5
    for (let i = 0; i < requests; i++) expect((await complete(server, { model, prompt: 'one two three', max_tokens: 4 })).status).toBe(200)
    expect((await complete(server, { model: 'other', prompt: 'rejected' })).status).toBe(404)

    expect(await metric(server, 'vllm:request_success_total', { finished_reason: 'length', model_name: model })).toBe(requests)
    expect(await metric(server, 'vllm:request_success_total', { finished_reason: 'stop', model_name: model })).toBe(0)
    expect(await metric(server, 'vllm:prompt_tokens_total', { model_name: model })).toBe(3 * requests)
    expect(await metric(server, 'vllm:generation_tokens_total', { model_name: model })).toBe(4 * requests)
    expect(await metric(server, 'vllm:e2e_request_latency_seconds_count', { model_name: model })).toBe(requests)
    expect(await metric(server, 'vllm:num_requests_running', { model_name: model })).toBe(0)
    expect(await metric(server, 'vllm:num_requests_waiting', { model_name: model })).toBe(0)
  })
})

describe('model-server shutdown', () => {
  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    const server = await startModelServer('--time-to-first-token-ms', '3000')
    try {
      const inFlight = complete(server, { model, prompt: 'slow', max_tokens: 2 })
      while ((await metric(server, 'vllm:num_requests_running', { model_name: model })) !== 1) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      process.kill(server.pid, 'SIGTERM')

      const { status, json } = await inFlight
      expect(status).toBe(200)
      expect(json.usage?.completion_tokens).toBe(2)
      expect(await server.exited).toEqual({ code: 0, signal: null })
      // The drain began while the request was still running, and it ended without cutting anything off.
      const messages = server.output().split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg)
      const draining = messages.indexOf('draining')
      expect(draining).toBeGreaterThan(-1)
      expect(messages.slice(draining)).toContain('request completed')
      expect(messages).not.toContain('drain timeout reached, closing open connections')
    } finally {
      await server.stop('SIGKILL')
    }
  })
})

describe('model-server bundle', () => {
  let outDir: string
  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'workload-bundles-'))
  })
  afterAll(() => rm(outDir, { recursive: true, force: true }))

  it('runs with plain node outside the repository and answers /health', async () => {
    const bundles = await buildWorkloads(outDir)
    expect(bundles).toContain(join(outDir, 'model-server.mjs'))
    const server = await startWorkload(process.execPath, [join(outDir, 'model-server.mjs')], { cwd: outDir, env: { PATH: process.env.PATH } })
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
      expect(await server.stop()).toEqual({ code: 0, signal: null })
    } finally {
      await server.stop('SIGKILL')
    }
  })
})
