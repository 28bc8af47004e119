// The model-server's capacity, KV cache and failure injection, as a real process on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { complete, logLines, metric, model, scrape, send, startModelServer, waitFor } from './model-server-helpers.ts'

describe('model-server capacity', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer([
      '--max-num-seqs',
      '1',
      '--max-waiting-requests',
      '1',
      '--time-to-first-token-ms',
      '0',
      '--inter-token-latency-ms',
      '100',
    ])
  })
  afterAll(() => server?.stop())

  it('runs max-num-seqs at once, queues max-waiting-requests, and turns the next away with 429', async () => {
    const first = complete(server, { model, prompt: 'first', max_tokens: 20 })
    await waitFor('the first request to run', async () => (await metric(server, 'vllm:num_requests_running')) === 1)
    const second = complete(server, { model, prompt: 'second', max_tokens: 2 })
    await waitFor('the second request to wait', async () => (await metric(server, 'vllm:num_requests_waiting')) === 1)

    const third = await complete(server, { model, prompt: 'third', max_tokens: 2 })
    expect(third.status).toBe(429)
    expect(third.json.error).toMatchObject({ type: 'RateLimitError', code: 'rate_limit_exceeded' })

    expect((await first).status).toBe(200)
    expect((await second).status).toBe(200)
    const metrics = await scrape(server)
    expect([metrics.value('vllm:num_requests_running'), metrics.value('vllm:num_requests_waiting')]).toEqual([0, 0])
    expect(metrics.value('vllm:request_success_total', { finished_reason: 'length', model_name: model })).toBe(2)
  })
})

describe('model-server KV cache', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer([
      '--time-to-first-token-ms',
      '0',
      '--inter-token-latency-ms',
      '50',
      '--num-gpu-blocks',
      '1000',
    ])
  })
  afterAll(() => server?.stop())

  it('reports blocks held by running sequences as KV cache usage, and none once they finish', async () => {
    const prompt = Array.from({ length: 100 }, (_, i) => `w${i}`).join(' ') // 100 tokens: 7 blocks, 8 with the answer
    const running = complete(server, { model, prompt, max_tokens: 20 })
    const usage = await waitFor('KV cache usage', async () => {
      const value = await metric(server, 'vllm:kv_cache_usage_perc')
      return value > 0 && value
    })
    expect(usage).toBeGreaterThanOrEqual(0.007)
    expect(usage).toBeLessThanOrEqual(0.008)
    expect((await running).status).toBe(200)
    expect(await metric(server, 'vllm:kv_cache_usage_perc')).toBe(0)
  })
})

describe('model-server prefix cache and time to first token', () => {
  // Prefill costs 2 ms per prompt token the prefix cache does not hold, and nothing else does.
  const flags = ['--prefill-time-per-token-ms', '2', '--time-to-first-token-ms', '0', '--inter-token-latency-ms', '0']
  let warm: WorkloadProcess
  let cold: WorkloadProcess
  beforeAll(async () => {
    ;[warm, cold] = await Promise.all([startModelServer(flags), startModelServer(flags)])
  })
  afterAll(() => Promise.all([warm?.stop(), cold?.stop()]))

  /** Milliseconds from sending a streamed completion to its first token arriving. */
  async function timeToFirstToken(server: WorkloadProcess, prompt: string): Promise<number> {
    const start = performance.now()
    const response = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt, max_tokens: 2, stream: true }),
    })
    const reader = response.body!.getReader()
    expect((await reader.read()).done).toBe(false)
    const elapsed = performance.now() - start
    while (!(await reader.read()).done);
    return elapsed
  }

  it('answers a repeated long prompt much sooner on the server that cached it than on a cold one', async () => {
    const prompt = Array.from({ length: 400 }, (_, i) => `w${i}`).join(' ') // 400 tokens: 25 blocks of 16
    expect((await complete(warm, { model, prompt, max_tokens: 1 })).status).toBe(200)
    const hitsBefore = await metric(warm, 'vllm:prefix_cache_hits_total')

    const warmTtft = await timeToFirstToken(warm, prompt)
    const coldTtft = await timeToFirstToken(cold, prompt)
    // Cold: all 400 tokens prefilled, 800 ms at least. Warm: 24 blocks cached (the block holding
    // the last token is always computed), 16 tokens prefilled, about 32 ms. Without the cache both
    // would take 800 ms or more, so half of the cold time is a generous margin, not a speed goal.
    expect(coldTtft).toBeGreaterThanOrEqual(790)
    expect(warmTtft).toBeLessThan(coldTtft / 2)
    expect(await metric(warm, 'vllm:prefix_cache_hits_total')).toBe(hitsBefore + 384)
    expect(await metric(cold, 'vllm:prefix_cache_hits_total')).toBe(0)
  })
})

describe('model-server client disconnect', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer(['--time-to-first-token-ms', '0', '--inter-token-latency-ms', '50'])
  })
  afterAll(() => server?.stop())

  for (const path of ['/v1/completions', '/v1/chat/completions']) {
    it(`frees the slot and the KV blocks when the client goes away mid-stream (${path})`, async () => {
      const idleUsage = await metric(server, 'vllm:kv_cache_usage_perc')
      const aborts = await metric(server, 'vllm:request_success_total', { finished_reason: 'abort', model_name: model })
      const controller = new AbortController()
      const body =
        path === '/v1/completions'
          ? { model, prompt: 'go on forever', max_tokens: 500 }
          : { model, messages: [{ role: 'user', content: 'go on' }], max_tokens: 500 }
      const response = await fetch(server.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, stream: true }),
        signal: controller.signal,
      })
      const reader = response.body!.getReader()
      expect((await reader.read()).done).toBe(false)
      expect(await metric(server, 'vllm:num_requests_running')).toBe(1)
      controller.abort()

      await waitFor(
        'the sequence to be released',
        async () => (await metric(server, 'vllm:num_requests_running')) === 0,
      )
      expect(await metric(server, 'vllm:kv_cache_usage_perc')).toBe(idleUsage)
      expect(await metric(server, 'vllm:request_success_total', { finished_reason: 'abort', model_name: model })).toBe(
        aborts + 1,
      )
      expect((await complete(server, { model, prompt: 'still there?', max_tokens: 1 })).status).toBe(200)
    })
  }

  it('frees the slot when the client goes away before a whole answer is ready', async () => {
    const controller = new AbortController()
    const request = fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'take your time', max_tokens: 500 }),
      signal: controller.signal,
    }).catch((error: Error) => error)
    await waitFor('the request to run', async () => (await metric(server, 'vllm:num_requests_running')) === 1)
    controller.abort()
    expect(await request).toBeInstanceOf(Error)
    await waitFor('the sequence to be released', async () => (await metric(server, 'vllm:num_requests_running')) === 0)
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })

  it('logs none of these disconnects as an error', () => {
    expect(logLines(server).filter((line) => line.level >= 50)).toEqual([])
  })
})

describe('model-server failure injection', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer([
      '--enable-failure-injection',
      'true',
      '--time-to-first-token-ms',
      '0',
      '--inter-token-latency-ms',
      '0',
    ])
  })
  afterAll(() => server?.stop())

  const setFailures = (body: unknown) => send(server, 'PUT', '/admin/failures', JSON.stringify(body))

  it('starts with no failures', async () => {
    expect((await send(server, 'GET', '/admin/failures')).json).toEqual({ rate: 0, types: [] })
  })

  it('fails every request with the chosen error at rate 1, and none at rate 0', async () => {
    expect((await setFailures({ rate: 1, types: ['server_error'] })).status).toBe(200)
    expect((await send(server, 'GET', '/admin/failures')).json).toEqual({ rate: 1, types: ['server_error'] })
    for (let i = 0; i < 3; i++) {
      const { status, json } = await complete(server, { model, prompt: 'fail me', max_tokens: 2 })
      expect(status).toBe(500)
      expect(json.error).toEqual({
        message: expect.stringContaining('injected'),
        type: 'InternalServerError',
        param: null,
        code: 'server_error',
      })
    }
    const chat = await send(
      server,
      'POST',
      '/v1/chat/completions',
      JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream: true }),
    )
    expect(chat.status).toBe(500)

    expect((await setFailures({ rate: 0 })).json).toEqual({ rate: 0, types: [] })
    expect((await complete(server, { model, prompt: 'work again', max_tokens: 2 })).status).toBe(200)
  })

  it('refuses invalid settings with 400, keeping the old ones', async () => {
    for (const body of [
      { rate: 2 },
      { rate: 0.5, types: ['meteor'] },
      { types: ['server_error'] },
      { rate: '1' },
      { rate: 1, extra: true },
    ]) {
      const { status, json } = await setFailures(body)
      expect(status, JSON.stringify(body)).toBe(400)
      expect(json.error?.type).toBe('invalid_request_error')
    }
    expect((await send(server, 'PUT', '/admin/failures', '{"rate":')).status).toBe(400)
    expect((await send(server, 'GET', '/admin/failures')).json).toEqual({ rate: 0, types: [] })
  })

  it('does not count injected failures as successes', async () => {
    const before = await metric(server, 'vllm:request_success_total', { finished_reason: 'length', model_name: model })
    await setFailures({ rate: 1, types: ['rate_limit'] })
    expect((await complete(server, { model, prompt: 'limited', max_tokens: 2 })).status).toBe(429)
    await setFailures({ rate: 0 })
    expect(await metric(server, 'vllm:request_success_total', { finished_reason: 'length', model_name: model })).toBe(
      before,
    )
  })
})
