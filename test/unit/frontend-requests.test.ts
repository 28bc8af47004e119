// What the frontend reads of a request (priority, deadline, the model label), what it reads of
// an answer (its tokens and their times), and how it follows a backend's KV events.
import { createServer } from 'node:http'
import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { KvEventsClient } from '../../workloads/frontend/kv-events-client.ts'
import { KvIndex } from '../../workloads/frontend/kv-index.ts'
import {
  deadlineHeader,
  deadlineOf,
  modelLabel,
  priorityHeader,
  priorityOf,
} from '../../workloads/frontend/request-fields.ts'
import { TokenMeter } from '../../workloads/frontend/token-meter.ts'
import { HttpError } from '../../workloads/shared/errors.ts'

const refusal = (call: () => unknown) => {
  try {
    call()
  } catch (error) {
    return error instanceof HttpError ? { status: error.statusCode, param: error.param } : error
  }
  return null
}

describe('priorityOf', () => {
  it("reads the body's priority (vLLM's field), 0 when absent", () => {
    expect(priorityOf({}, { prompt: 'x' }, 4)).toBe(0)
    expect(priorityOf({}, { priority: 3 }, 4)).toBe(3)
    expect(priorityOf({}, { priority: null }, 4)).toBe(0)
    expect(priorityOf({}, ['not', 'an', 'object'], 4)).toBe(0)
  })

  it('lets the header win over the body', () => {
    expect(priorityOf({ [priorityHeader]: '1' }, { priority: 3 }, 4)).toBe(1)
    expect(priorityOf({ [priorityHeader]: '0' }, { priority: 99 }, 4)).toBe(0)
  })

  it('refuses a priority outside the classes, or not an integer, with a 400 naming the field', () => {
    for (const body of [{ priority: 4 }, { priority: -1 }, { priority: 1.5 }, { priority: '1' }])
      expect(refusal(() => priorityOf({}, body, 4))).toEqual({ status: 400, param: 'priority' })
    for (const header of ['4', '-1', 'high', '', '1.0'])
      expect(refusal(() => priorityOf({ [priorityHeader]: header }, {}, 4))).toEqual({ status: 400, param: 'priority' })
  })
})

describe('deadlineOf', () => {
  it('takes the header in milliseconds, else the default', () => {
    expect(deadlineOf({}, 5000, 60_000)).toBe(5000)
    expect(deadlineOf({ [deadlineHeader]: '250' }, 5000, 60_000)).toBe(250)
  })

  it('refuses 0, more than the maximum, or anything but an integer', () => {
    for (const value of ['0', '60001', 'soon', '1.5'])
      expect(refusal(() => deadlineOf({ [deadlineHeader]: value }, 5000, 60_000))).toEqual({
        status: 400,
        param: deadlineHeader,
      })
  })
})

describe('modelLabel', () => {
  it('names only a model a backend serves, so clients cannot add label values', () => {
    const served = new Set(['lab-model'])
    expect(modelLabel({ model: 'lab-model' }, served)).toBe('lab-model')
    expect(modelLabel({ model: 'made-up-1' }, served)).toBe('unknown')
    expect(modelLabel({}, served)).toBe('unknown')
  })
})

describe('TokenMeter', () => {
  function clock() {
    let now = 0
    return { now: () => now, at: (ms: number) => (now = ms) }
  }

  it('times the first token and the gaps between the tokens of a stream, even split across chunks', async () => {
    const { now, at } = clock()
    const meter = new TokenMeter(now)
    const watch = meter.watch()
    const out: Buffer[] = []
    watch.on('data', (chunk: Buffer) => out.push(chunk))
    const event = (data: object) => `data: ${JSON.stringify(data)}\n\n`
    at(5)
    watch.write(event({ choices: [{ delta: { role: 'assistant', content: '' } }] }))
    at(10)
    const first = event({ choices: [{ delta: { content: 'Hello' } }] })
    watch.write(first.slice(0, 12))
    watch.write(first.slice(12))
    at(14)
    watch.write(event({ choices: [{ text: ' world' }] }) + event({ choices: [], usage: { completion_tokens: 2 } }))
    watch.end('data: [DONE]\n\n')
    await new Promise((resolve) => watch.on('end', resolve))
    expect(meter.times).toEqual({ firstTokenAt: 10, gapsMs: [4], outputTokens: 2, errorCode: undefined })
    expect(Buffer.concat(out).toString()).toContain('data: [DONE]')
  })

  it("notes a stream's error event and its code", () => {
    const meter = new TokenMeter()
    const watch = meter.watch()
    watch.resume()
    watch.write(`data: ${JSON.stringify({ error: { message: 'cut', code: 'upstream_stream_cut' } })}\n\n`)
    expect(meter.times.errorCode).toBe('upstream_stream_cut')
  })

  it("reads a whole answer's usage", () => {
    const { now, at } = clock()
    const meter = new TokenMeter(now)
    at(30)
    meter.whole(Buffer.from(JSON.stringify({ choices: [{ text: 'a b c' }], usage: { completion_tokens: 3 } })))
    expect(meter.times).toMatchObject({ firstTokenAt: 30, outputTokens: 3 })
  })
})

describe('KvEventsClient', () => {
  let server: Server | undefined
  let client: KvEventsClient | undefined
  afterEach(async () => {
    client?.stop()
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
  })

  /** A model server's /kv-events: each subscriber gets what `script` writes. */
  async function serve(script: (response: ServerResponse, subscriber: number) => void) {
    let subscribers = 0
    server = createServer((request, response) => {
      if (request.url !== '/kv-events') return void response.writeHead(404).end()
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      script(response, subscribers++)
    })
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return { url: `http://127.0.0.1:${port}`, subscribers: () => subscribers }
  }

  const send = (response: ServerResponse, event: string, data: object) =>
    response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)

  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(check()).toBe(true)
  }

  it('applies the snapshot, then stored, removed and cleared batches in order', async () => {
    const index = new KvIndex({ ttlMs: 0 })
    const { url } = await serve((response) => {
      send(response, 'snapshot', { seq: 7, blockSize: 16, blocks: ['h1'] })
      response.write(': keep-alive\n\n')
      send(response, 'batch', {
        seq: 8,
        ts: 1,
        events: [{ type: 'BlockStored', block_hashes: ['h2', 'h3'], parent_block_hash: 'h1', block_size: 16 }],
      })
      send(response, 'batch', { seq: 9, ts: 2, events: [{ type: 'BlockRemoved', block_hashes: ['h3'] }] })
    })
    client = new KvEventsClient({ url, address: 'a', index, log: pino({ level: 'silent' }) })
    client.start()
    await until(() => index.overlap('a', ['h1', 'h2', 'h3']) === 2 && index.storedCount('a') === 2)
    expect(index.blockSizeOf('a')).toBe(16)
    expect(client.connected).toBe(true)
  })

  it('takes a snapshot again after a gap in the sequence', async () => {
    const index = new KvIndex({ ttlMs: 0 })
    const { url, subscribers } = await serve((response, subscriber) => {
      if (subscriber === 0) {
        send(response, 'snapshot', { seq: 1, blockSize: 16, blocks: ['h1'] })
        send(response, 'batch', { seq: 3, ts: 1, events: [{ type: 'BlockStored', block_hashes: ['lost'] }] })
      } else {
        send(response, 'snapshot', { seq: 5, blockSize: 16, blocks: ['h1', 'h2'] })
      }
    })
    client = new KvEventsClient({ url, address: 'a', index, log: pino({ level: 'silent' }), backoffMs: 10 })
    client.start()
    await until(() => subscribers() === 2 && index.storedCount('a') === 2)
    expect(index.overlap('a', ['h1', 'h2', 'lost'])).toBe(2)
  })

  it('retries a server that refuses, with backoff, until it subscribes', async () => {
    const index = new KvIndex({ ttlMs: 0 })
    let calls = 0
    server = createServer((_request, response) => {
      if (++calls < 3) return void response.writeHead(503).end()
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      send(response, 'snapshot', { seq: 0, blockSize: 16, blocks: ['h1'] })
    })
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    client = new KvEventsClient({
      url: `http://127.0.0.1:${port}`,
      address: 'a',
      index,
      log: pino({ level: 'silent' }),
      backoffMs: 10,
    })
    client.start()
    await until(() => index.storedCount('a') === 1)
    expect(calls).toBe(3)
  })
})
