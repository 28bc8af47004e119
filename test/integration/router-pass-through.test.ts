// The router as a real process in front of small HTTP servers that record what reaches them:
// request bodies arrive byte for byte, whether the policy reads them or not; a body the policy
// does not read is passed on while the client is still sending it; a retry sends the whole body
// again; a streamed answer comes back byte for byte. Needs no cluster.
import { createServer, request } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { backendHeader } from '../../workloads/router/proxy.ts'
import { waitFor } from './model-server-helpers.ts'
import { startRouter } from './router-helpers.ts'

/** What a recording backend received of one completion request. */
interface Received {
  body: Buffer
  contentLength: string | undefined
}

/** A backend that answers health checks, records each completion's body, and answers with `answer`. */
class RecordingBackend {
  readonly received: Received[] = []
  /** Requests whose headers arrived, body or not. */
  started = 0
  answer: (request: IncomingMessage, response: ServerResponse, body: Buffer) => void = (_, response) =>
    json(response, 200, { choices: [{ text: 'ok' }], usage: { completion_tokens: 1 } })
  /** When set, answers as soon as the headers arrive, without reading the body. */
  answerEarly: ((response: ServerResponse) => void) | null = null
  readonly server: Server = createServer((incoming, response) => {
    if (incoming.method === 'GET') return json(response, 200, { ready: true })
    this.started++
    if (this.answerEarly) return this.answerEarly(response)
    const chunks: Buffer[] = []
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
    incoming.on('end', () => {
      const body = Buffer.concat(chunks)
      this.received.push({ body, contentLength: incoming.headers['content-length'] })
      this.answer(incoming, response, body)
    })
  })

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  close() {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(resolve))
  }

  reset() {
    this.received.length = 0
    this.started = 0
    this.answerEarly = null
  }
}

function json(response: ServerResponse, status: number, body: object) {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

/** POSTs a body in parts: each part once `before(i)` resolves; resolves the answer's status, headers and bytes. */
function post(url: string, parts: Buffer[], before: (i: number) => Promise<unknown> = async () => {}) {
  const length = parts.reduce((sum, part) => sum + part.length, 0)
  return new Promise<{ status: number; backend: string | undefined; body: Buffer }>((resolve, reject) => {
    const outgoing = request(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(length) },
    })
    outgoing.on('error', reject)
    outgoing.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () =>
        resolve({
          status: response.statusCode!,
          backend: response.headers[backendHeader] as string | undefined,
          body: Buffer.concat(chunks),
        }),
      )
    })
    void (async () => {
      for (const [i, part] of parts.entries()) {
        await before(i)
        outgoing.write(part)
      }
      outgoing.end()
    })().catch(reject)
  })
}

/** JSON as a client might write it, which a parse and re-encode would not keep: spacing, key order, escapes, number forms. */
const oddlyWritten = Buffer.from(
  '{ "max_tokens" :16,\n\t"prompt": "caf\\u00e9 \u00e9t\u00e9 \ud83d\ude80",  "temperature": 1.0e0, "top_p": 1.00 }',
)

describe.each(['round-robin', 'prefix-aware'])('router with the %s policy', (policy) => {
  const backends = [new RecordingBackend(), new RecordingBackend()]
  let router: WorkloadProcess

  beforeAll(async () => {
    const urls = await Promise.all(backends.map((b) => b.listen()))
    router = await startRouter(urls, ['--policy', policy], { readyPath: '/ready' })
  })
  afterEach(() => backends.forEach((b) => b.reset()))
  afterAll(async () => {
    await router?.stop('SIGKILL')
    await Promise.all(backends.map((b) => b.close()))
  })
  const received = () => backends.flatMap((b) => b.received)

  it('passes the body on byte for byte, with its length', async () => {
    const { status } = await post(router.url, [oddlyWritten])
    expect(status).toBe(200)
    expect(received()).toHaveLength(1)
    expect(received()[0]!.body.equals(oddlyWritten)).toBe(true)
    expect(received()[0]!.contentLength).toBe(String(oddlyWritten.length))
  })

  it('passes a body near the size limit on byte for byte', async () => {
    const large = Buffer.from(JSON.stringify({ prompt: 'é'.repeat(450_000), max_tokens: 1 }))
    expect(large.length).toBeGreaterThan(900_000)
    const { status } = await post(router.url, [large.subarray(0, 300_000), large.subarray(300_000)])
    expect(status).toBe(200)
    expect(received()).toHaveLength(1)
    expect(received()[0]!.body.equals(large)).toBe(true)
  })

  it('passes a streamed answer back byte for byte', async () => {
    const events = ['data: {"choices":[{"text":"a"}]}\n\n', 'data: {"choices":[{"text":"é"}]}\n\n', 'data: [DONE]\n\n']
    for (const backend of backends)
      backend.answer = (_, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' })
        for (const event of events) response.write(event)
        response.end()
      }
    try {
      const { status, body } = await post(router.url, [Buffer.from('{"prompt":"hi","stream":true}')])
      expect(status).toBe(200)
      expect(body.toString()).toBe(events.join(''))
    } finally {
      for (const backend of backends) backend.answer = new RecordingBackend().answer
    }
  })
})

describe('router with a policy that does not read bodies', () => {
  const backends = [new RecordingBackend(), new RecordingBackend()]
  let router: WorkloadProcess

  beforeAll(async () => {
    const urls = await Promise.all(backends.map((b) => b.listen()))
    router = await startRouter(urls, ['--policy', 'round-robin'], { readyPath: '/ready' })
  })
  afterEach(() => backends.forEach((b) => b.reset()))
  afterAll(async () => {
    await router?.stop('SIGKILL')
    await Promise.all(backends.map((b) => b.close()))
  })

  it('sends the request on before the client has sent the whole body', async () => {
    const parts = [Buffer.from('{"prompt":"first half, '), Buffer.from('second half","max_tokens":4}')]
    // The second part is written only once a backend has the request: a router that read the
    // whole body first would wait for it forever.
    const answered = await post(router.url, parts, (i) =>
      i === 0
        ? Promise.resolve()
        : waitFor('a backend to get the request', async () => backends.some((b) => b.started > 0), 5_000),
    )
    expect(answered.status).toBe(200)
    expect(backends.flatMap((b) => b.received).map((r) => r.body.toString())).toEqual([Buffer.concat(parts).toString()])
  })

  it('sends the whole body again on a retry, when the first backend failed before reading it', async () => {
    const [failing, working] = backends as [RecordingBackend, RecordingBackend]
    failing.answerEarly = (response) => json(response, 503, { error: { message: 'busy' } })
    const parts = [Buffer.from('{"prompt":"sent in '), Buffer.from('two parts","max_tokens":4}')]
    const whole = Buffer.concat(parts).toString()
    // Round robin sends one of two requests to each backend first.
    for (let i = 0; i < 2; i++) {
      const answered = await post(router.url, parts, (part) =>
        part === 0
          ? Promise.resolve()
          : waitFor('a backend to get the request', async () => working.started + failing.started > 0, 5_000),
      )
      expect(answered.status).toBe(200)
    }
    expect(failing.started).toBeGreaterThan(0)
    expect(working.received.map((r) => r.body.toString())).toEqual([whole, whole])
  })
})
