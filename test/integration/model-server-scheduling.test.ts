// The model-server's scheduling policies through HTTP, as a real process on loopback: the
// request's `priority` orders the waiting queue under `--scheduling-policy priority`, and is
// refused as vLLM refuses it under fcfs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { complete, metric, model, startModelServer, waitFor } from './model-server-helpers.ts'

describe('model-server --scheduling-policy priority', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer([
      '--scheduling-policy',
      'priority',
      '--max-num-seqs',
      '1',
      '--time-to-first-token-ms',
      '0',
      '--inter-token-latency-ms',
      '50',
    ])
  })
  afterAll(() => server?.stop())

  it('runs a later, more urgent request before earlier ones queued behind a running one', async () => {
    const finished: string[] = []
    const send = (name: string, priority: number, maxTokens: number) =>
      complete(server, { model, prompt: name, max_tokens: maxTokens, priority }).then((answer) => {
        finished.push(name)
        return answer.status
      })
    const running = send('running', 0, 10)
    await waitFor('the first request to run', async () => (await metric(server, 'vllm:num_requests_running')) === 1)
    const low = [send('low one', 5, 2), send('low two', 5, 2)]
    await waitFor('two requests to wait', async () => (await metric(server, 'vllm:num_requests_waiting')) === 2)
    const urgent = send('urgent', -1, 2)
    await waitFor('three requests to wait', async () => (await metric(server, 'vllm:num_requests_waiting')) === 3)

    expect(await Promise.all([running, ...low, urgent])).toEqual([200, 200, 200, 200])
    expect(finished).toEqual(['running', 'urgent', 'low one', 'low two'])
  })

  it('refuses a priority that is not an integer with a 400 naming it', async () => {
    for (const priority of ['high', 1.5, null, true]) {
      const { status, json } = await complete(server, { model, prompt: 'hi', max_tokens: 1, priority })
      expect(status, JSON.stringify(priority)).toBe(400)
      expect(json.error).toMatchObject({ type: 'invalid_request_error', param: 'priority' })
    }
  })
})

describe('model-server --scheduling-policy fcfs (the default)', () => {
  let server: WorkloadProcess
  beforeAll(async () => {
    server = await startModelServer(['--time-to-first-token-ms', '0', '--inter-token-latency-ms', '0'])
  })
  afterAll(() => server?.stop())

  it("answers a priority other than 0 with vLLM's 400, and takes 0", async () => {
    for (const path of ['/v1/completions', '/v1/chat/completions']) {
      const body = path === '/v1/completions' ? { prompt: 'hi' } : { messages: [{ role: 'user', content: 'hi' }] }
      const refused = await fetch(server.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, ...body, max_tokens: 1, priority: 3 }),
      })
      expect(refused.status, path).toBe(400)
      expect(await refused.json()).toEqual({
        error: {
          message: 'Got priority 3 but Priority scheduling is not enabled.',
          type: 'BadRequestError',
          param: 'priority',
          code: null,
        },
      })
    }
    expect((await complete(server, { model, prompt: 'hi', max_tokens: 1, priority: 0 })).status).toBe(200)
  })
})
