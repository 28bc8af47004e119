// Hostile and broken clients and peers against the model server and the router as real processes
// on loopback: malformed and hostile bodies and headers, slow and vanishing clients, a burst of
// connections, impostor ranks at the rendezvous. Each case asserts the answer, that the process
// is still up, and that no slot or connection is left behind; the suite ends by bounding how much
// each server's memory grew (RSS), and prints it.
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../scripts/lib/workload-process.ts'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import type { BackendStatus } from '../../workloads/router/backend.ts'
import { proofOf } from '../../workloads/model-server/group/secret.ts'
import { groupSecret, metric, model, startModelServer, waitFor } from './model-server-helpers.ts'
import { startRouter } from './router-helpers.ts'

const limits = ['--headers-timeout-ms', '1000', '--body-timeout-ms', '2000', '--idle-timeout-ms', '1500']
const maxConnections = 64
const fastModel = ['--time-to-first-token-ms', '0', '--inter-token-latency-ms', '2', ...limits]

/** Resident memory of a process, in MiB, from /proc. */
function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return Number(kib) / 1024
}

interface RawAnswer {
  /** What the server sent back, as text. */
  text: string
  /** The status line's code, or null when nothing came back. */
  status: number | null
  closedByServer: boolean
}

/**
 * Writes `request` as it is on a fresh connection, then waits for the server to close it, at most
 * `waitMs`; a server that leaves it open past that is a failure of the caller's assertions.
 */
function rawRequest(url: string, request: string | Buffer, waitMs = 10_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    let text = ''
    const done = (closedByServer: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]
      resolve({ text, status: status ? Number(status) : null, closedByServer })
    }
    const timer = setTimeout(() => done(false), waitMs)
    socket.on('data', (chunk) => (text += chunk.toString()))
    socket.on('error', () => {})
    socket.on('close', () => done(true))
    socket.write(request)
  })
}

const jsonPost = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nhost: lab\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`

async function post(server: WorkloadProcess, body: string | Buffer, contentType: string | null = 'application/json') {
  const response = await fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    headers: contentType === null ? {} : { 'content-type': contentType },
    // fetch labels a string text/plain on its own: bytes go without a content type.
    body: contentType === null ? Buffer.from(body) : body,
  })
  const text = await response.text()
  return { status: response.status, text, json: () => JSON.parse(text) as { error?: { message: string } } }
}

const completion = JSON.stringify({ model, prompt: 'hello', max_tokens: 2 })

describe('bad input against the model server and the router', () => {
  const backends: WorkloadProcess[] = []
  let router: WorkloadProcess
  const rssAtStart = new Map<string, number>()
  const targets = () => [
    { name: 'model server', server: backends[0]! },
    { name: 'router', server: router },
  ]

  beforeAll(async () => {
    backends.push(
      ...(await Promise.all(
        [0, 1].map(() => startModelServer([...fastModel, '--max-connections', String(maxConnections)])),
      )),
    )
    router = await startRouter(
      backends.map((b) => b.url),
      [...limits, '--max-connections', String(maxConnections)],
    )
    await waitFor('the router to see both backends healthy', async () => (await fetch(`${router.url}/ready`)).ok)
    // Warm up both (JIT, pools) before the memory baseline.
    for (let i = 0; i < 20; i++) await post(router, completion)
    for (const { name, server } of targets()) rssAtStart.set(name, rssMiB(server.pid))
  })

  afterAll(async () => {
    await Promise.all([router, ...backends].map((p) => p?.stop('SIGKILL')))
  })

  /** Every server still up and answering, and no request left running on a backend. */
  async function allStillServe(): Promise<void> {
    for (const { server } of targets()) expect((await post(server, completion)).status).toBe(200)
    for (const backend of backends) {
      await waitFor('no request left running on the backend', async () => {
        return (await metric(backend, 'vllm:num_requests_running')) === 0
      })
    }
    await waitFor('nothing outstanding in the router', async () => {
      const list = (await (await fetch(`${router.url}/backends`)).json()) as BackendStatus[]
      return list.every((b) => b.outstanding === 0)
    })
  }

  it('1. forwards a request whose target is an absolute URL, and ejects no backend for it', async () => {
    const answers: (number | null)[] = []
    for (let i = 0; i < 6; i++)
      answers.push((await rawRequest(router.url, jsonPost('http://x/v1/completions', completion))).status)
    expect(answers).toEqual([200, 200, 200, 200, 200, 200])
    const list = (await (await fetch(`${router.url}/backends`)).json()) as BackendStatus[]
    expect(list.map((b) => b.breaker)).toEqual(['closed', 'closed'])
    await allStillServe()
  })

  it('2. answers 408 and closes a request whose body never finishes, and one whose headers never do', async () => {
    for (const { name, server } of targets()) {
      const slowBody = await rawRequest(
        server.url,
        'POST /v1/completions HTTP/1.1\r\nhost: lab\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"prompt":',
      )
      expect([name, slowBody.status, slowBody.closedByServer]).toEqual([name, 408, true])
      const slowHeaders = await rawRequest(server.url, 'POST /v1/completions HTTP/1.1\r\nhost: lab\r\nx-slow: ')
      expect([name, slowHeaders.status, slowHeaders.closedByServer]).toEqual([name, 408, true])
    }
    await allStillServe()
  })

  it('2. closes a kept-alive connection left idle past the idle timeout', async () => {
    for (const { name, server } of targets()) {
      const request = `GET /health HTTP/1.1\r\nhost: lab\r\n\r\n`
      const answer = await rawRequest(server.url, request)
      expect([name, answer.status, answer.closedByServer]).toEqual([name, 200, true])
    }
  })

  it('2. survives a burst of connections beyond its limit, and serves again once it passes', async () => {
    for (const { server } of targets()) {
      const { hostname, port } = new URL(server.url)
      const sockets: Socket[] = []
      const closed: Promise<void>[] = []
      for (let i = 0; i < maxConnections * 3; i++) {
        const socket = connect(Number(port), hostname)
        socket.on('error', () => {})
        closed.push(new Promise((resolve) => socket.on('close', () => resolve())))
        sockets.push(socket)
      }
      // The server closes those beyond its limit itself, at once; the rest stay open.
      await waitFor('the server to close the connections beyond its limit', async () => {
        if (sockets.some((s) => !s.destroyed && s.readyState === 'opening')) return false
        const open = sockets.filter((s) => !s.destroyed).length
        return open > 0 && open <= maxConnections
      })
      for (const socket of sockets) socket.destroy()
      await Promise.all(closed)
    }
    await allStillServe()
  })

  it('5. passes deeply nested JSON on byte for byte, and survives JSON nested far deeper', async () => {
    const nested = (depth: number) =>
      `{"model":"${model}","prompt":"x","max_tokens":1,"extra":${'['.repeat(depth)}${']'.repeat(depth)}}`
    for (const { name, server } of targets()) {
      expect([name, (await post(server, nested(5000))).status]).toEqual([name, 200])
      const deeper = await post(server, nested(400_000))
      expect([name, deeper.status < 500]).toEqual([name, true])
    }
    await allStillServe()
  })

  it('5. passes 900 kB of non-ASCII text through the router without growing it past the limit', async () => {
    const body = JSON.stringify({ model, prompt: 'é'.repeat(450_000), max_tokens: 1 })
    expect(Buffer.byteLength(body)).toBeGreaterThan(900_000)
    expect((await post(router, body)).status).toBe(200)
    await allStillServe()
  })

  it('6. refuses sampling parameters out of vLLM’s ranges with 400, in both', async () => {
    const cases = [{ temperature: -1 }, { top_p: 2 }, { top_p: 0 }, { presence_penalty: 3 }, { top_k: -2 }]
    for (const { name, server } of targets()) {
      for (const extra of cases) {
        const answer = await post(server, JSON.stringify({ model, prompt: 'x', max_tokens: 1, ...extra }))
        expect([name, extra, answer.status]).toEqual([name, extra, 400])
      }
    }
  })

  it('7. answers 400, not 429, to a request that could never fit an idle server', async () => {
    for (const { name, server } of targets()) {
      const answer = await post(server, JSON.stringify({ model, prompt: Array(2000).fill('x'), max_tokens: 1 }))
      expect([name, answer.status]).toEqual([name, 400])
      expect(answer.text).toContain('too_many_sequences')
    }
    await allStillServe()
  })

  it('8. has no /admin/failures unless failure injection is turned on', async () => {
    for (const { name, server } of targets()) {
      const answer = await fetch(`${server.url}/admin/failures`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '{"rate":1}',
      })
      expect([name, answer.status]).toEqual([name, 404])
    }
  })

  it('10. answers a wrong method with 405 and Allow, an unknown path with 404, in both', async () => {
    for (const { name, server } of targets()) {
      const wrong = await fetch(`${server.url}/v1/completions`)
      expect([name, wrong.status, wrong.headers.get('allow')]).toEqual([name, 405, 'POST'])
      expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/Method Not Allowed/)
      expect([name, (await fetch(`${server.url}/v1/nothing`)).status]).toEqual([name, 404])
    }
  })

  it('10. refuses malformed, empty, non-JSON and oversized bodies alike in both', async () => {
    const cases: { what: string; body: string | Buffer; contentType: string | null; status: number }[] = [
      { what: 'malformed JSON', body: '{"prompt":', contentType: 'application/json', status: 400 },
      { what: 'an empty JSON body', body: '', contentType: 'application/json', status: 400 },
      { what: 'a JSON array', body: '[1,2]', contentType: 'application/json', status: 400 },
      { what: 'text/plain', body: completion, contentType: 'text/plain', status: 415 },
      { what: 'no content type', body: completion, contentType: null, status: 415 },
      { what: 'form data', body: 'prompt=x', contentType: 'application/x-www-form-urlencoded', status: 415 },
      {
        what: 'a body over the limit',
        body: Buffer.alloc(1024 * 1024 + 1, 'a'),
        contentType: 'application/json',
        status: 413,
      },
      {
        what: 'prototype poisoning',
        body: '{"__proto__":{"x":1},"prompt":"x"}',
        contentType: 'application/json',
        status: 400,
      },
      { what: 'a prompt that is a number', body: '{"prompt":5}', contentType: 'application/json', status: 400 },
    ]
    for (const { name, server } of targets()) {
      for (const { what, body, contentType, status } of cases) {
        const answer = await post(server, body, contentType)
        expect([name, what, answer.status]).toEqual([name, what, status])
        expect(answer.json().error?.message, `${name}: ${what}`).toBeTruthy()
      }
    }
    await allStillServe()
  })

  it('answers headers too large with 431, and a broken request line with 400', async () => {
    for (const { name, server } of targets()) {
      const big = await rawRequest(
        server.url,
        `GET /health HTTP/1.1\r\nhost: lab\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
      )
      expect([name, big.status]).toEqual([name, 431])
      const broken = await rawRequest(server.url, 'HELLO\r\n\r\n')
      expect([name, broken.status]).toEqual([name, 400])
    }
    await allStillServe()
  })

  it('frees every slot when clients vanish mid-stream', async () => {
    const streams = Array.from({ length: 20 }, async (_, i) => {
      const controller = new AbortController()
      const target = i % 2 === 0 ? router : backends[1]!
      const response = await fetch(`${target.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt: 'x', max_tokens: 2000, stream: true }),
        signal: controller.signal,
      })
      const reader = response.body!.getReader()
      await reader.read()
      controller.abort()
      await reader.read().catch(() => {})
    })
    await Promise.all(streams)
    await allStillServe()
  })

  it('keeps the memory of both servers bounded over the whole suite', () => {
    for (const { name, server } of targets()) {
      const start = rssAtStart.get(name)!
      const end = rssMiB(server.pid)
      console.log(`RSS of the ${name}: ${start.toFixed(1)} MiB after warm-up, ${end.toFixed(1)} MiB after the suite`)
      // Generous: a leak of the inputs above (400 kB nesting, 900 kB bodies, streams) would grow by far more.
      expect([name, end - start < 150]).toEqual([name, true])
    }
  })
})

describe('a stream cut by its backend, through the router', () => {
  let backend: WorkloadProcess
  let router: WorkloadProcess
  beforeAll(async () => {
    backend = await startModelServer(['--time-to-first-token-ms', '0', '--inter-token-latency-ms', '20'])
    router = await startRouter([backend.url], limits)
    await waitFor('the router to be ready', async () => (await fetch(`${router.url}/ready`)).ok)
  })
  afterAll(() => Promise.all([router, backend].map((p) => p?.stop('SIGKILL'))))

  it('9. ends with an OpenAI-style error event and [DONE], not a connection reset', async () => {
    const response = await fetch(`${router.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'x', max_tokens: 2000, stream: true }),
    })
    expect(response.status).toBe(200)
    const reader = response.body!.getReader()
    let text = new TextDecoder().decode((await reader.read()).value)
    await backend.stop('SIGKILL')
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
    const events = text.split('\n\n').filter(Boolean)
    expect(events.at(-1)).toBe('data: [DONE]')
    const error = JSON.parse(events.at(-2)!.replace(/^data: /, '')) as { error: { type: string; code: string } }
    expect(error.error).toMatchObject({ type: 'BadGatewayError', code: 'upstream_stream_cut' })
    // Every event before it is a whole chunk.
    for (const event of events.slice(0, -2)) expect(() => JSON.parse(event.replace(/^data: /, ''))).not.toThrow()
  })
})

describe('impostors at the rendezvous', () => {
  let leader: WorkloadProcess
  let masterPort: number
  const stepTimeoutMs = 1000
  beforeAll(async () => {
    masterPort = await freePort()
    leader = await startModelServer(
      [
        '--heartbeat-interval-ms',
        '200',
        '--heartbeat-timeout-ms',
        '1000',
        '--step-timeout-ms',
        String(stepTimeoutMs),
        '--time-to-first-token-ms',
        '0',
        '--inter-token-latency-ms',
        '5',
      ],
      {
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(masterPort),
        NNODES: '2',
        NODE_RANK: '0',
        GROUP_SECRET: groupSecret,
      },
    )
  })
  afterAll(() => leader?.stop('SIGKILL'))

  const group = async () =>
    (await (await fetch(`${leader.url}/group`)).json()) as { state: string; generation: number; members: number[] }

  /** A TCP peer of the rendezvous that speaks the protocol by hand. */
  function peer() {
    const socket = connect(masterPort, '127.0.0.1')
    const frames: Record<string, unknown>[] = []
    let buffer = ''
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('data', (chunk: string) => {
      buffer += chunk
      let newline: number
      while ((newline = buffer.indexOf('\n')) >= 0) {
        frames.push(JSON.parse(buffer.slice(0, newline)) as Record<string, unknown>)
        buffer = buffer.slice(newline + 1)
      }
    })
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    const frame = (type: string) => waitFor(`a ${type} frame`, async () => frames.find((f) => f.type === type))
    const send = (frame: object) => socket.write(JSON.stringify(frame) + '\n')
    const hello = (proof: string, generation = 0) =>
      send({ type: 'hello', nodeRank: 1, nnodes: 2, gpusPerNode: 1, model, generation, proof })
    return { socket, frames, closed, frame, send, hello }
  }

  it('4. listens on the address it was given, not every interface', async () => {
    const other = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal)
    if (!other) return // a machine with loopback only has no other interface to try
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(masterPort, other.address)
      socket.on('connect', () => {
        socket.destroy()
        resolve(false)
      })
      socket.on('error', () => resolve(true))
    })
    expect(refused).toBe(true)
  })

  it('4. refuses a rank without the secret, even one that claims generation 1e308, and keeps its generation', async () => {
    for (const generation of [0, 1e308]) {
      const impostor = peer()
      const challenge = (await impostor.frame('challenge')) as { nonce: string }
      impostor.hello(proofOf('not-the-group-secret-at-all', challenge.nonce), generation)
      expect(((await impostor.frame('refused')) as { reason: string }).reason).toMatch(/does not hold the group secret/)
      await impostor.closed
    }
    expect(await group()).toMatchObject({ state: 'forming', generation: 0, members: [0] })
  })

  it('4. refuses a rank with the secret that claims an impossible generation', async () => {
    const rank = peer()
    const challenge = (await rank.frame('challenge')) as { nonce: string }
    rank.hello(proofOf(groupSecret, challenge.nonce), 1e308)
    expect(((await rank.frame('refused')) as { reason: string }).reason).toMatch(/generation 1e\+308 is not one/)
    await rank.closed
    expect((await group()).generation).toBe(0)
  })

  it('3. breaks the group when a rank heartbeats but never acknowledges a step, then forms again', async () => {
    const silent = peer()
    const challenge = (await silent.frame('challenge')) as { nonce: string }
    silent.hello(proofOf(groupSecret, challenge.nonce))
    await waitFor('the group to form with the silent rank', async () => (await group()).state === 'ready')
    const heartbeats = setInterval(() => silent.send({ type: 'heartbeat' }), 200)
    try {
      const answer = await post(leader, JSON.stringify({ model, prompt: 'x', max_tokens: 5 }))
      expect(answer.status).toBe(503)
      expect(answer.json().error?.message).toMatch(/did not acknowledge step \d+ within 1000 ms/)
      await silent.closed
      expect((await fetch(`${leader.url}/ready`)).status).toBe(503)
      expect(await metric(leader, 'vllm:num_requests_running')).toBe(0)
    } finally {
      clearInterval(heartbeats)
    }
    // A rank that does answer takes the free place, and the group forms under a new generation.
    const honest = peer()
    const next = (await honest.frame('challenge')) as { nonce: string }
    honest.hello(proofOf(groupSecret, next.nonce))
    honest.socket.on('data', () => {
      for (const frame of honest.frames.splice(0)) {
        if (frame.type === 'step') honest.send({ type: 'ack', id: frame.id })
      }
    })
    await waitFor('the group to form again', async () => (await group()).state === 'ready')
    expect((await group()).generation).toBe(2)
    expect((await post(leader, JSON.stringify({ model, prompt: 'x', max_tokens: 3 }))).status).toBe(200)
    honest.socket.destroy()
  })

  it('3. frees the slot of a client that leaves while a rank is slow to acknowledge', async () => {
    const slow = peer()
    const challenge = (await slow.frame('challenge')) as { nonce: string }
    slow.hello(proofOf(groupSecret, challenge.nonce))
    await waitFor('the group to form', async () => (await group()).state === 'ready')
    const heartbeats = setInterval(() => slow.send({ type: 'heartbeat' }), 200)
    try {
      const controller = new AbortController()
      const request = fetch(`${leader.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt: 'x', max_tokens: 5 }),
        signal: controller.signal,
      }).catch(() => null)
      await waitFor('the request to run', async () => (await metric(leader, 'vllm:num_requests_running')) === 1)
      controller.abort()
      await request
      await waitFor('its slot to be free', async () => (await metric(leader, 'vllm:num_requests_running')) === 0)
      // Freed by the client leaving, not by the step timeout breaking the group later.
      expect((await group()).state).toBe('ready')
    } finally {
      clearInterval(heartbeats)
      slow.socket.destroy()
    }
  })
})
