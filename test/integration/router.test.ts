// The router as a real process in front of three real model servers on loopback: spreading
// requests, losing a backend mid-load, streaming through, cancelling, ejecting a failing
// backend, and refusing bad input. Needs no cluster.
import { spawn } from 'node:child_process'
import { setTimeout as delay } from 'node:timers/promises'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../scripts/lib/workload-process.ts'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import type { BackendStatus } from '../../workloads/router/backend.ts'
import { backendHeader } from '../../workloads/router/proxy.ts'
import { metric, model, scrape, startModelServer, waitFor } from './model-server-helpers.ts'
import { startRouter } from './router-helpers.ts'

// Failure injection on: one test makes a backend fail through /admin/failures.
const fastModel = [
  '--time-to-first-token-ms',
  '0',
  '--inter-token-latency-ms',
  '2',
  '--enable-failure-injection',
  'true',
]

/** A model server on a given port (startWorkload picks a free one), to bring a killed backend back where it was. */
async function startModelServerOn(port: number, flags: string[]): Promise<WorkloadProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'workloads/model-server/main.ts',
      '--served-model-name',
      model,
      ...flags,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH },
      stdio: 'ignore',
    },
  )
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  )
  const url = `http://127.0.0.1:${port}`
  const server: WorkloadProcess = {
    url,
    pid: child.pid ?? -1,
    exited,
    output: () => '',
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
  await waitFor(`a model server on port ${port}`, async () => (await fetch(`${url}/health`)).status === 200)
  return server
}

const addressOf = (server: WorkloadProcess) => new URL(server.url).host
const backendsOf = async (router: WorkloadProcess) =>
  (await (await fetch(`${router.url}/backends`)).json()) as BackendStatus[]
const statusOf = async (router: WorkloadProcess, server: WorkloadProcess) =>
  (await backendsOf(router)).find((b) => b.address === addressOf(server))!
const routerMetric = (router: WorkloadProcess, name: string, labels: Record<string, string> = {}) =>
  metric(router, name, labels)

async function complete(router: WorkloadProcess, prompt = 'hello', init: RequestInit = {}) {
  const response = await fetch(`${router.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt, max_tokens: 4 }),
    ...init,
  })
  const body = (await response.json()) as {
    choices?: unknown[]
    error?: { type: string; code: string | null; message: string }
  }
  return { status: response.status, backend: response.headers.get(backendHeader), body }
}

/** Sends `total` completions, `concurrency` at a time; calls `midway` once `after` have been answered. */
async function load(
  router: WorkloadProcess,
  total: number,
  concurrency: number,
  after: number,
  midway: () => Promise<unknown>,
) {
  const statuses: number[] = []
  const backends = new Map<string, number>()
  let issued = 0
  let midwayCall: Promise<unknown> | undefined
  const client = async () => {
    while (issued < total) {
      issued++
      const { status, backend } = await complete(router, `load ${issued}`).catch(() => ({ status: 0, backend: null }))
      statuses.push(status)
      if (backend) backends.set(backend, (backends.get(backend) ?? 0) + 1)
      if (statuses.length === after) midwayCall = midway()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client))
  await midwayCall
  return { statuses, backends }
}

describe('router in front of three model servers', () => {
  const servers: WorkloadProcess[] = []
  let router: WorkloadProcess
  const openai = () => new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'not-needed', maxRetries: 0 })

  beforeAll(async () => {
    servers.push(...(await Promise.all([0, 1, 2].map(() => startModelServer(fastModel)))))
    router = await startRouter(
      servers.map((s) => s.url),
      ['--base-ejection-ms', '1000', '--unhealthy-threshold', '3'],
    )
    await waitFor(
      'the router to see all three backends healthy',
      async () => (await backendsOf(router)).filter((b) => b.healthy).length === 3,
    )
  })
  afterAll(async () => {
    await router?.stop('SIGKILL')
    await Promise.all(servers.map((s) => s.stop('SIGKILL')))
  })

  it('lists its backends: ready, healthy, breaker closed, nothing in flight', async () => {
    expect(await backendsOf(router)).toEqual(
      servers
        .map((s) => ({
          address: addressOf(s),
          ready: true,
          healthy: true,
          breaker: 'closed',
          outstanding: 0,
          ejectedUntil: null,
        }))
        .sort((a, b) => (a.address < b.address ? -1 : 1)),
    )
    expect((await fetch(`${router.url}/ready`)).status).toBe(200)
    expect(await routerMetric(router, 'serving_lab_router_healthy_backends')).toBe(3)
  })

  it('sends requests to all three, naming the one that answered', async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 12; i++) {
      const { status, backend, body } = await complete(router)
      expect(status).toBe(200)
      expect(body.choices).toHaveLength(1)
      seen.add(backend!)
    }
    expect([...seen].sort()).toEqual(servers.map(addressOf).sort())
    const models = await fetch(`${router.url}/v1/models`)
    expect(models.status).toBe(200)
    expect(servers.map(addressOf)).toContain(models.headers.get(backendHeader))
  })

  it('streams server-sent events through, chunk by chunk, to the OpenAI client', async () => {
    const { data: stream, response } = await openai()
      .completions.create({ model, prompt: 'stream through the router', max_tokens: 300, stream: true })
      .withResponse()
    const backend = servers.find((s) => addressOf(s) === response.headers.get(backendHeader))!
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const chunks: string[] = []
    for await (const chunk of stream) {
      chunks.push(chunk.choices[0]!.text)
      // The first token reached the client while the backend was still generating the rest: not buffered.
      if (chunks.length === 1) expect(await metric(backend, 'vllm:num_requests_running')).toBe(1)
    }
    expect(chunks).toHaveLength(300)
    expect((await statusOf(router, backend)).outstanding).toBe(0)
  })

  it('cancels the request to the backend when the client aborts mid-stream', async () => {
    const cancelled = await routerMetric(router, 'serving_lab_router_requests_total', { outcome: 'cancelled' }).catch(
      () => 0,
    )
    const { data: stream, response } = await openai()
      .completions.create({ model, prompt: 'a long story', max_tokens: 5000, stream: true })
      .withResponse()
    const backend = servers.find((s) => addressOf(s) === response.headers.get(backendHeader))!
    const iterator = stream[Symbol.asyncIterator]()
    await iterator.next()
    expect(await metric(backend, 'vllm:num_requests_running')).toBe(1)
    stream.controller.abort()
    await waitFor(
      'the backend to stop generating',
      async () => (await metric(backend, 'vllm:num_requests_running')) === 0,
    )
    await waitFor(
      'the router to count the request cancelled',
      async () =>
        (await routerMetric(router, 'serving_lab_router_requests_total', {
          backend: addressOf(backend),
          outcome: 'cancelled',
        })) >= 1,
    )
    expect((await statusOf(router, backend)).outstanding).toBe(0)
    expect(
      (await scrape(router)).value('serving_lab_router_requests_total', {
        backend: addressOf(backend),
        outcome: 'cancelled',
      }),
    ).toBeGreaterThan(cancelled - 1)
    expect((await statusOf(router, backend)).breaker).toBe('closed')
  })

  it('loses no request when a backend is killed mid-load, and opens its breaker at the threshold', async () => {
    const victim = servers[0]!
    const address = addressOf(victim)
    const retries = await routerMetric(router, 'serving_lab_router_retries_total')
    const concurrency = 12
    const { statuses, backends } = await load(router, 400, concurrency, 60, () => victim.stop('SIGKILL'))
    expect(statuses.filter((s) => s !== 200)).toEqual([])
    expect(statuses).toHaveLength(400)
    expect(await routerMetric(router, 'serving_lab_router_retries_total')).toBeGreaterThan(retries)
    expect(backends.get(address)).toBeGreaterThan(0)

    // Open, or already half-open if its first ejection (1 s here) ended before the load did.
    const status = await statusOf(router, victim)
    expect(['open', 'half-open']).toContain(status.breaker)
    expect([1, 2]).toContain(await routerMetric(router, 'serving_lab_router_breaker_state', { backend: address }))
    const errors = await routerMetric(router, 'serving_lab_router_requests_total', {
      backend: address,
      outcome: 'error',
    })
    // Three errors in a row open it; beyond those, only requests already in flight when it opened can fail.
    expect(errors).toBeGreaterThanOrEqual(3)
    expect(errors).toBeLessThanOrEqual(3 + concurrency)
    await waitFor(
      'the active health checks to mark it unhealthy',
      async () => (await statusOf(router, victim)).healthy === false,
    )
    expect(await routerMetric(router, 'serving_lab_router_healthy_backends')).toBe(2)
  })

  it('sends traffic to the backend again once it is back on the same port', async () => {
    const port = Number(new URL(servers[0]!.url).port)
    servers[0] = await startModelServerOn(port, fastModel)
    await waitFor('the backend to be healthy again', async () => (await statusOf(router, servers[0]!)).healthy)
    const seen = new Set<string>()
    await waitFor('a request answered by it', async () => {
      const { status, backend } = await complete(router)
      expect(status).toBe(200)
      seen.add(backend!)
      return seen.has(addressOf(servers[0]!))
    })
    await waitFor('its breaker to close after successful probes', async () => {
      await complete(router)
      return (await statusOf(router, servers[0]!)).breaker === 'closed'
    })
    expect(await routerMetric(router, 'serving_lab_router_breaker_state', { backend: addressOf(servers[0]!) })).toBe(0)
  })

  it('ejects a backend whose requests fail (outlier detection), while the clients still get answers', async () => {
    const failing = servers[1]!
    const address = addressOf(failing)
    const put = (rate: number) =>
      fetch(`${failing.url}/admin/failures`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rate, types: ['server_error'] }),
      })
    expect((await put(1)).status).toBe(200)
    try {
      const errors = await routerMetric(router, 'serving_lab_router_requests_total', {
        backend: address,
        outcome: 'error',
      }).catch(() => 0)
      for (let i = 0; i < 15; i++) {
        const { status, backend } = await complete(router, `while failing ${i}`)
        expect(status).toBe(200)
        expect(backend).not.toBe(address)
      }
      const status = await statusOf(router, failing)
      expect(status.healthy).toBe(true) // its health endpoint still answers: only real requests show the failures
      expect(
        await routerMetric(router, 'serving_lab_router_requests_total', { backend: address, outcome: 'error' }),
      ).toBeGreaterThanOrEqual(errors + 3)
      await waitFor('its breaker to be open', async () => (await statusOf(router, failing)).breaker === 'open')
      expect(Date.parse((await statusOf(router, failing)).ejectedUntil!)).toBeGreaterThan(Date.now() - 5000)
    } finally {
      await put(0)
    }
    await waitFor('it to take requests again after the ejection', async () => {
      await complete(router)
      return (await statusOf(router, failing)).breaker === 'closed'
    })
  })

  it('answers bad input with a 4xx in OpenAI shape, and keeps running', async () => {
    const malformed = await fetch(`${router.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"prompt": ',
    })
    expect(malformed.status).toBe(400)
    expect(((await malformed.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error')

    const huge = await fetch(`${router.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }] }),
    })
    expect(huge.status).toBe(413)
    expect(((await huge.json()) as { error: { message: string } }).error.message).toMatch(/too large/i)

    const text = await fetch(`${router.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    })
    expect(text.status).toBe(415)
    const unknown = await fetch(`${router.url}/v2/nothing`)
    expect(unknown.status).toBe(404)
    // A body of the wrong shape is the backend's to refuse; its 400 comes back as it was.
    const wrongShape = await complete(router, undefined, { body: JSON.stringify({ model, prompt: 42 }) })
    expect(wrongShape.status).toBe(400)
    expect(wrongShape.backend).not.toBeNull()

    expect((await fetch(`${router.url}/health`)).status).toBe(200)
    expect((await complete(router)).status).toBe(200)
  })

  it('drains on SIGTERM: a stream in flight finishes, then it exits 0', async () => {
    const response = await fetch(`${router.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'finish me', max_tokens: 200, stream: true }),
    })
    const reader = response.body!.getReader()
    await reader.read()
    const exit = router.stop('SIGTERM')
    let text = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      text += new TextDecoder().decode(chunk.value)
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(await exit).toEqual({ code: 0, signal: null })
  })
})

describe('router without a usable backend', () => {
  const processes: WorkloadProcess[] = []
  afterAll(() => Promise.all(processes.map((p) => p.stop('SIGKILL'))))

  it('is not ready, and answers 503 no_healthy_backend', async () => {
    const nothing = `http://127.0.0.1:${await freePort()}`
    const router = await startRouter([nothing])
    processes.push(router)
    await delay(500) // a few health checks, all failing
    const ready = await fetch(`${router.url}/ready`)
    expect(ready.status).toBe(503)
    expect(await ready.json()).toMatchObject({ ready: false, reason: 'no healthy backend' })
    const { status, body } = await complete(router)
    expect(status).toBe(503)
    expect(body.error).toMatchObject({ type: 'ServiceUnavailableError', code: 'no_healthy_backend' })
    expect(
      await routerMetric(router, 'serving_lab_router_requests_total', { backend: 'none', outcome: 'rejected' }),
    ).toBe(1)
    expect(await routerMetric(router, 'serving_lab_router_healthy_backends')).toBe(0)
  })

  it('gives up on a backend that does not answer in time with 504 upstream_timeout', async () => {
    const slow = await startModelServer(['--time-to-first-token-ms', '0', '--inter-token-latency-ms', '100'])
    processes.push(slow)
    const router = await startRouter([slow.url], ['--request-timeout-ms', '300'])
    processes.push(router)
    await waitFor('the backend to be healthy', async () => (await fetch(`${router.url}/ready`)).status === 200)
    const { status, body } = await complete(router, 'slowly', {
      body: JSON.stringify({ model, prompt: 'slowly', max_tokens: 50 }),
    })
    expect(status).toBe(504)
    expect(body.error).toMatchObject({ code: 'upstream_timeout' })
    expect(
      await routerMetric(router, 'serving_lab_router_requests_total', { backend: addressOf(slow), outcome: 'timeout' }),
    ).toBe(1)
    await waitFor(
      'the backend to drop the abandoned request',
      async () => (await metric(slow, 'vllm:num_requests_running')) === 0,
    )
  })

  it('exits 2 naming the field when the configuration is wrong', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'workloads/router/main.ts', '--backends', 'http://127.0.0.1:1', '--policy', 'random'],
      {
        cwd: repoRoot,
        env: { PATH: process.env.PATH },
      },
    )
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const code = await new Promise((resolve) => child.on('exit', resolve))
    expect(code).toBe(2)
    expect(stderr).toMatch(
      /policy must be one of round-robin, least-outstanding, session-affinity, prefix-aware \(got random\)/,
    )
  })
})
