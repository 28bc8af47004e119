// The model-server as a real process on a loopback port, driven over HTTP and through the
// official OpenAI client. Needs no cluster.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildWorkloads } from '../../scripts/lib/build/workloads.ts'
import { startWorkload } from '../../scripts/lib/workload-process.ts'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { complete, logLines, metric, model, scrape, send, startModelServer, waitFor } from './model-server-helpers.ts'

const client = (server: WorkloadProcess) =>
  new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-needed', maxRetries: 0 })

describe('model-server API', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer(['--time-to-first-token-ms', '0', '--inter-token-latency-ms', '1'])
  })
  afterAll(() => server?.stop())

  it('answers a completion in OpenAI shape, generating max_tokens tokens', async () => {
    const { status, json } = await complete(server, {
      model,
      prompt: 'Hello there, model!',
      max_tokens: 7,
      temperature: 0.2,
    })
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

  it('streams server-sent events: one chunk per token, finish_reason on the last, then [DONE]', async () => {
    const response = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'stream this', max_tokens: 4, stream: true }),
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const text = await response.text()
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    const events = text.split('\n\n').filter(Boolean)
    expect(events.every((event) => event.startsWith('data: '))).toBe(true)
    const chunks = events
      .slice(0, -1)
      .map(
        (event) =>
          JSON.parse(event.slice('data: '.length)) as { object: string; choices: { finish_reason: string | null }[] },
      )
    expect(chunks).toHaveLength(4)
    expect(chunks.every((chunk) => chunk.object === 'text_completion')).toBe(true)
    expect(chunks.map((chunk) => chunk.choices[0]!.finish_reason)).toEqual([null, null, null, 'length'])
  })

  it('refuses stream_options without stream, as vLLM does', async () => {
    const { status, json } = await complete(server, { model, prompt: 'hi', stream_options: { include_usage: true } })
    expect(status).toBe(400)
    expect(json.error?.param).toBe('stream_options')
  })

  it('answers an unknown model with 404 in OpenAI error shape', async () => {
    const { status, json } = await complete(server, { model: 'gpt-4', prompt: 'hi' })
    expect(status).toBe(404)
    expect(json.error).toEqual({
      message: 'The model `gpt-4` does not exist.',
      type: 'NotFoundError',
      param: 'model',
      code: 'model_not_found',
    })
  })

  it('answers malformed JSON with a 400 JSON error', async () => {
    const { status, contentType, json } = await send(server, 'POST', '/v1/completions', '{"prompt": "unfinished')
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
    const messages = await send(
      server,
      'POST',
      '/v1/chat/completions',
      JSON.stringify({ model, messages: [{ role: 'wizard', content: 'hi' }] }),
    )
    expect(messages.status).toBe(400)
    expect(messages.json.error?.param).toBe('messages.0.role')
  })

  it('answers a prompt longer than the context with a 400', async () => {
    const { status, json } = await complete(server, { model, prompt: 'word '.repeat(8190), max_tokens: 10 })
    expect(status).toBe(400)
    expect(json.error).toMatchObject({
      code: 'context_length_exceeded',
      message: expect.stringContaining('maximum context length is 8192 tokens'),
    })
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

  it('is ready alone, as a group of one', async () => {
    const ready = await fetch(`${server.url}/ready`)
    expect(ready.status).toBe(200)
    expect(await (await fetch(`${server.url}/group`)).json()).toEqual({
      nodeRank: 0,
      nnodes: 1,
      gpusPerNode: 1,
      worldSize: 1,
      globalRanks: [0],
      leader: '127.0.0.1:29500',
      state: 'ready',
      generation: 1,
      members: [0],
      reason: null,
    })
  })

  it('still answers after all of the above', async () => {
    expect((await complete(server, { model, prompt: 'still here?', max_tokens: 1 })).status).toBe(200)
  })
})

describe('model-server through the OpenAI client', () => {
  let server: WorkloadProcess
  let openai: OpenAI
  beforeAll(async () => {
    server = await startModelServer([
      '--time-to-first-token-ms',
      '0',
      '--inter-token-latency-ms',
      '1',
      '--mode',
      'echo',
    ])
    openai = client(server)
  })
  afterAll(() => server?.stop())

  it('lists the served model', async () => {
    const models = await openai.models.list()
    expect(models.data).toEqual([expect.objectContaining({ id: model, object: 'model', owned_by: 'vllm' })])
  })

  it('completes, echoing the prompt', async () => {
    const completion = await openai.completions.create({ model, prompt: 'Say this back', max_tokens: 10 })
    expect(completion.object).toBe('text_completion')
    expect(completion.choices[0]).toMatchObject({ text: ' Say this back', finish_reason: 'stop' })
    expect(completion.usage).toEqual({ prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 })
  })

  it('streams a completion, with usage in a last chunk when asked', async () => {
    const stream = await openai.completions.create({
      model,
      prompt: 'one two three four',
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    const usageChunk = chunks.at(-1)!
    expect(usageChunk.choices).toEqual([])
    expect(usageChunk.usage).toEqual({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 })
    const text = chunks
      .slice(0, -1)
      .map((chunk) => chunk.choices[0]!.text)
      .join('')
    expect(text).toBe(' one two three')
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length')
  })

  it('answers a chat, echoing the last user message', async () => {
    const chat = await openai.chat.completions.create({
      model,
      messages: [
        { role: 'system', content: 'You are a parrot.' },
        { role: 'user', content: 'Hello, parrot!' },
      ],
    })
    expect(chat.object).toBe('chat.completion')
    expect(chat.choices[0]!.message).toMatchObject({ role: 'assistant', content: 'Hello, parrot!' })
    expect(chat.choices[0]!.finish_reason).toBe('stop')
    expect(chat.usage?.completion_tokens).toBe(4)
  })

  it('streams a chat: the role first, then the content, then usage', async () => {
    const stream = await openai.chat.completions.create({
      model,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Stream me, please.' }] }],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true)
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' })
    const content = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? '')).join('')
    expect(content).toBe('Stream me, please.')
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop')
    expect(chunks.at(-1)!.usage).toMatchObject({ completion_tokens: 5 })
  })

  it('raises the client error that matches the status', async () => {
    await expect(openai.completions.create({ model: 'gpt-4', prompt: 'hi' })).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    )
    await expect(openai.chat.completions.create({ model, messages: [] })).rejects.toBeInstanceOf(OpenAI.BadRequestError)
  })
})

describe('model-server metrics', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer(['--time-to-first-token-ms', '0', '--inter-token-latency-ms', '0'])
  })
  afterAll(() => server?.stop())

  it('counts successful requests, and their tokens, under vLLM names', async () => {
    const requests = 5
    for (let i = 0; i < requests; i++)
      expect((await complete(server, { model, prompt: 'one two three', max_tokens: 4 })).status).toBe(200)
    expect((await complete(server, { model: 'other', prompt: 'rejected' })).status).toBe(404)

    const metrics = await scrape(server)
    expect(metrics.type('vllm:request_success_total')).toBe('COUNTER')
    expect(metrics.value('vllm:request_success_total', { finished_reason: 'length', model_name: model })).toBe(requests)
    expect(metrics.value('vllm:request_success_total', { finished_reason: 'stop', model_name: model })).toBe(0)
    expect(metrics.value('vllm:prompt_tokens_total')).toBe(3 * requests)
    expect(metrics.value('vllm:generation_tokens_total')).toBe(4 * requests)
    expect(metrics.value('vllm:prefix_cache_queries_total')).toBe(3 * requests)
    expect(metrics.count('vllm:e2e_request_latency_seconds')).toBe(requests)
    expect(metrics.count('vllm:time_to_first_token_seconds')).toBe(requests)
    expect(metrics.count('vllm:inter_token_latency_seconds')).toBe(3 * requests)
    expect(metrics.value('vllm:num_requests_running')).toBe(0)
    expect(metrics.value('vllm:num_requests_waiting')).toBe(0)
    expect(metrics.value('vllm:kv_cache_usage_perc')).toBe(0)
    expect(metrics.value('serving_lab_group_ready')).toBe(1)
  })

  it("tells a router its capacity: vLLM's cache_config_info and the lab's live max-num-seqs", async () => {
    const metrics = await scrape(server)
    expect(metrics.type('vllm:cache_config_info')).toBe('GAUGE')
    expect(
      metrics.value('vllm:cache_config_info', {
        block_size: '16',
        num_gpu_blocks: '2048',
        enable_prefix_caching: 'True',
      }),
    ).toBe(1)
    expect(metrics.value('serving_lab_max_num_seqs')).toBe(256)
    expect(metrics.value('serving_lab_kv_event_subscribers')).toBe(0)
  })

  it('counts a request that reuses a cached prefix as prefix cache hits, in tokens', async () => {
    const before = await scrape(server)
    const shared = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ')
    expect((await complete(server, { model, prompt: `${shared} first ending`, max_tokens: 2 })).status).toBe(200)
    const between = await metric(server, 'vllm:prefix_cache_hits_total')
    expect(between).toBe(before.value('vllm:prefix_cache_hits_total'))
    expect((await complete(server, { model, prompt: `${shared} second ending`, max_tokens: 2 })).status).toBe(200)
    // 40 shared tokens: two full blocks of 16 are reused.
    expect(await metric(server, 'vllm:prefix_cache_hits_total')).toBe(between + 32)
  })
})

describe('model-server shutdown', () => {
  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    const server = await startModelServer(['--time-to-first-token-ms', '3000'])
    try {
      const inFlight = complete(server, { model, prompt: 'slow', max_tokens: 2 })
      await waitFor('the request to run', async () => (await metric(server, 'vllm:num_requests_running')) === 1)
      process.kill(server.pid, 'SIGTERM')

      const { status, json } = await inFlight
      expect(status).toBe(200)
      expect(json.usage?.completion_tokens).toBe(2)
      expect(await server.exited).toEqual({ code: 0, signal: null })
      // The drain began while the request was still running, and it ended without cutting anything off.
      const messages = logLines(server).map((line) => line.msg)
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
    const server = await startWorkload(process.execPath, [join(outDir, 'model-server.mjs')], {
      cwd: outDir,
      env: { PATH: process.env.PATH },
    })
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
      expect((await fetch(`${server.url}/ready`)).status).toBe(200)
      expect(await server.stop()).toEqual({ code: 0, signal: null })
    } finally {
      await server.stop('SIGKILL')
    }
  })
})
