// Which failed attempts the frontend may send to another backend: those the backend never
// started on. The connection resets come from a real server on loopback that resets a kept-alive
// connection when the next request arrives on it, as a server closing its idle connections on
// SIGTERM does to a request sent at that moment.
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { notTaken } from '../../workloads/frontend/handler.ts'
import { Backend } from '../../workloads/router/backend.ts'
import { Exchange } from '../../workloads/router/upstream.ts'
import type { Failure } from '../../workloads/router/upstream.ts'

const silent = { child: () => silent, info: () => {}, warn: () => {} } as unknown as FastifyBaseLogger
const settings = {
  health: { path: '/ready', intervalMs: 60_000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 1 },
  outlier: { consecutiveErrors: 5, baseEjectionMs: 60_000, maxEjectionMs: 60_000 },
  halfOpenRequests: 1,
}
const metrics = { requests: { inc: () => {} }, latency: { observe: () => {} } }

/**
 * Answers the first `answered` requests of each connection with 200, then resets the
 * connection, after the headers of an answer when `midAnswer`.
 */
function resettingServer(answered: number, midAnswer = false): Server {
  return createServer((socket: Socket) => {
    let seen = ''
    let requests = 0
    socket.on('data', (chunk) => {
      seen += chunk.toString('latin1')
      while (seen.includes('\r\n\r\n')) {
        seen = seen.slice(seen.indexOf('\r\n\r\n') + 4)
        if (++requests > answered) {
          if (!midAnswer) socket.resetAndDestroy()
          else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{', () => socket.resetAndDestroy())
          return
        }
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}')
      }
    })
    socket.on('error', () => {})
  })
}

const servers: Server[] = []
async function backendOn(server: Server): Promise<Backend> {
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return new Backend({ address: `127.0.0.1:${port}`, ready: true }, settings, silent)
}
afterAll(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))))

function send(backend: Backend) {
  const exchange = new Exchange(backend, backend.breaker.acquire()!, metrics)
  return exchange.send({
    method: 'POST',
    path: '/v1/completions',
    headers: { 'content-type': 'application/json' },
    body: Buffer.alloc(0),
    signal: new AbortController().signal,
  })
}

describe('frontend: which failures go to another backend', () => {
  let reusedThenReset: Backend
  let resetAtOnce: Backend
  let resetMidAnswer: Backend
  beforeAll(async () => {
    reusedThenReset = await backendOn(resettingServer(1))
    resetAtOnce = await backendOn(resettingServer(0))
    resetMidAnswer = await backendOn(resettingServer(1, true))
  })

  it('a reset of a kept-alive connection reused for the request: not taken', async () => {
    expect((await send(reusedThenReset)).kind).toBe('whole')
    await delay(20) // the connection goes back to the agent's pool
    const failure = (await send(reusedThenReset)) as Failure
    expect(failure).toMatchObject({ kind: 'failed', code: 'ECONNRESET', reusedSocket: true })
    expect(notTaken(failure)).toBe(true)
  })

  it('a reset of a reused connection once the answer began: taken, not sent again', async () => {
    expect((await send(resetMidAnswer)).kind).toBe('whole')
    await delay(20)
    const failure = (await send(resetMidAnswer)) as Failure
    expect(failure).toMatchObject({ kind: 'failed', code: 'ECONNRESET', reusedSocket: true, answerBegan: true })
    expect(notTaken(failure)).toBe(false)
  })

  it('a reset of a new connection: perhaps taken, not sent again', async () => {
    const failure = (await send(resetAtOnce)) as Failure
    expect(failure).toMatchObject({ kind: 'failed', code: 'ECONNRESET', reusedSocket: false })
    expect(notTaken(failure)).toBe(false)
  })

  it('refused connections and 503 answers: not taken; other answers and timeouts: taken', () => {
    const failed = { kind: 'failed', outcome: 'error', retryable: true, reason: '' } as const
    const answer = (status: number) => ({ kind: 'whole', status, headers: {}, body: Buffer.alloc(0) }) as const
    expect(notTaken({ ...failed, code: 'ECONNREFUSED' })).toBe(true)
    expect(notTaken({ ...failed, answer: answer(503) })).toBe(true)
    expect(notTaken({ ...failed, answer: answer(500) })).toBe(false)
    expect(notTaken({ ...failed, answer: answer(502) })).toBe(false)
    expect(notTaken({ ...failed, code: 'EPIPE' })).toBe(false)
    expect(notTaken({ ...failed, outcome: 'timeout', code: 'ECONNRESET', reusedSocket: true })).toBe(false)
  })
})
