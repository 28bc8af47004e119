import { Agent, createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { percentileOf } from '../../scripts/bench/load.ts'
import { readMetric } from '../../scripts/bench/metrics.ts'
import { streamed } from '../../scripts/bench/stream.ts'

let server: Server | null = null
const agent = new Agent({ keepAlive: false })

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  server = null
})

async function serve(handler: RequestListener): Promise<string> {
  server = createServer(handler)
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const event = (data: object) => `data: ${JSON.stringify(data)}\n\n`

describe('streamed', () => {
  it('joins chat deltas, ignores the empty opening one, takes the usage, and splits events across chunks', async () => {
    const url = await serve((_, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write(event({ choices: [{ delta: { role: 'assistant', content: '' } }] }))
      const second = event({ choices: [{ delta: { content: 'Hello' } }] })
      response.write(second.slice(0, 10))
      response.write(second.slice(10))
      response.write(event({ choices: [{ delta: { content: ' there' } }] }))
      response.write(event({ choices: [], usage: { completion_tokens: 2 } }))
      response.end('data: [DONE]\n\n')
    })
    const answer = await streamed(url, '/v1/chat/completions', agent, { stream: true })
    expect(answer.text).toBe('Hello there')
    expect(answer.completionTokens).toBe(2)
    expect(answer.firstTokenMs).toBeGreaterThanOrEqual(0)
  })

  it("reads completions' text", async () => {
    const url = await serve((_, response) => {
      response.writeHead(200)
      response.end(event({ choices: [{ text: 'a' }] }) + event({ choices: [{ text: 'b' }] }) + 'data: [DONE]\n\n')
    })
    expect((await streamed(url, '/v1/completions', agent, {})).text).toBe('ab')
  })

  it('rejects an answer other than 200, and one with no text', async () => {
    const refusing = await serve((_, response) => response.writeHead(429).end(event({ choices: [{ text: 'a' }] })))
    await expect(streamed(refusing, '/v1/completions', agent, {})).rejects.toThrow('answered 429')
    await new Promise((resolve) => server!.close(resolve))
    const empty = await serve((_, response) => response.writeHead(200).end('data: [DONE]\n\n'))
    await expect(streamed(empty, '/v1/completions', agent, {})).rejects.toThrow('answered 200')
  })
})

describe('readMetric', () => {
  it("sums a metric's samples over its label sets, and no other metric's", async () => {
    const url = await serve((_, response) =>
      response.end(
        [
          '# HELP vllm:prefix_cache_hits_total Prefix cache hits.',
          'vllm:prefix_cache_hits_total{model_name="a"} 30',
          'vllm:prefix_cache_hits_total{model_name="b"} 12',
          'vllm:prefix_cache_hits_total_other 1000',
          'vllm:prefix_cache_queries_total 99',
        ].join('\n') + '\n',
      ),
    )
    expect(await readMetric(url, 'vllm:prefix_cache_hits_total')).toBe(42)
    expect(await readMetric(url, 'vllm:prefix_cache_queries_total')).toBe(99)
  })
})

describe('percentileOf', () => {
  it('takes the nearest rank, and NaN of nothing', () => {
    const values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10]
    expect(percentileOf(values, 50)).toBe(6)
    expect(percentileOf(values, 99)).toBe(10)
    expect(percentileOf([], 50)).toBeNaN()
  })
})
