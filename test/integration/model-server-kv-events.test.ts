// The model-server's KV events as a KV-aware router reads them: a real server process on loopback,
// a real SSE client on GET /kv-events, and block hashes computed on the client's side with the
// shared code, as the frontend computes them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { blockHashes } from '../../workloads/shared/block-hashes.ts'
import { tokenize } from '../../workloads/shared/prompt.ts'
import {
  complete,
  logLines,
  metric,
  model,
  openEventStream,
  startModelServer,
  waitFor,
} from './model-server-helpers.ts'
import type { ServerSentEvent } from './model-server-helpers.ts'

const blockSize = 4

type KvEvent =
  | { type: 'BlockStored'; block_hashes: string[]; parent_block_hash: string | null; block_size: number }
  | { type: 'BlockRemoved'; block_hashes: string[] }
  | { type: 'AllBlocksCleared' }
interface Snapshot {
  seq: number
  blockSize: number
  blocks: string[]
}
interface Batch {
  seq: number
  ts: number
  events: KvEvent[]
}

/** `count` distinct words, each one token. */
const words = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}${i}`).join(' ')
const hashesOf = (prompt: string) => blockHashes(tokenize(prompt), blockSize)

describe('model-server GET /kv-events', () => {
  let server: WorkloadProcess
  let stream: Awaited<ReturnType<typeof openEventStream>>
  /** What the first subscriber knows is cached: its snapshot, then every batch applied in order. */
  const view = new Set<string>()
  let lastSeq = 0

  /** The next batch on the first stream, applied to `view`, its seq checked to follow the last. */
  async function nextBatch(): Promise<Batch> {
    const message: ServerSentEvent = await stream.next()
    expect(message.event).toBe('batch')
    const batch = message.data as Batch
    expect(batch.seq).toBe(lastSeq + 1)
    lastSeq = batch.seq
    for (const event of batch.events) {
      if (event.type === 'BlockStored') event.block_hashes.forEach((hash) => view.add(hash))
      else if (event.type === 'BlockRemoved') event.block_hashes.forEach((hash) => view.delete(hash))
      else view.clear()
    }
    return batch
  }

  beforeAll(async () => {
    server = await startModelServer([
      '--block-size',
      String(blockSize),
      '--num-gpu-blocks',
      '20',
      '--max-model-len',
      '64',
      '--time-to-first-token-ms',
      '0',
      '--inter-token-latency-ms',
      '0',
      '--kv-events-max-subscribers',
      '2',
      '--kv-events-keep-alive-ms',
      '200',
      '--server-dev-mode',
      'true',
      '--drain-timeout-ms',
      '60000',
    ])
    stream = await openEventStream(server, '/kv-events')
  })
  afterAll(async () => {
    stream?.close()
    await server?.stop()
  })

  it('opens with a snapshot of the empty cache, as a text/event-stream', async () => {
    expect(stream.status).toBe(200)
    expect(stream.contentType).toMatch(/^text\/event-stream/)
    expect(await stream.next()).toEqual({ event: 'snapshot', data: { seq: 0, blockSize, blocks: [] } })
  })

  it("announces a prompt's full blocks once, with the hashes the client computes itself", async () => {
    const prompt = words(13, 'p') // 3 full blocks and one partial
    expect((await complete(server, { model, prompt, max_tokens: 1 })).status).toBe(200)
    const batch = await nextBatch()
    expect(Math.abs(batch.ts - Date.now() / 1000)).toBeLessThan(60)
    expect(batch.events).toEqual([
      { type: 'BlockStored', block_hashes: hashesOf(prompt), parent_block_hash: null, block_size: blockSize },
    ])

    // The same prompt again finds its blocks cached: nothing new is stored. A marker prompt's
    // batch shows that nothing came before it.
    expect((await complete(server, { model, prompt, max_tokens: 1 })).status).toBe(200)
    const marker = words(4, 'marker')
    expect((await complete(server, { model, prompt: marker, max_tokens: 1 })).status).toBe(200)
    expect((await nextBatch()).events).toEqual([
      { type: 'BlockStored', block_hashes: hashesOf(marker), parent_block_hash: null, block_size: blockSize },
    ])
  })

  it('stores only the blocks past a cached prefix, naming the last cached block as their parent', async () => {
    const prefix = words(13, 'p')
    const longer = `${prefix} ${words(8, 'q')}`
    expect((await complete(server, { model, prompt: longer, max_tokens: 1 })).status).toBe(200)
    const hashes = hashesOf(longer)
    expect(hashes.slice(0, 3)).toEqual(hashesOf(prefix))
    expect((await nextBatch()).events).toEqual([
      { type: 'BlockStored', block_hashes: hashes.slice(3), parent_block_hash: hashes[2], block_size: blockSize },
    ])
  })

  it('announces evicted blocks as removed, least recently used first', async () => {
    const before = new Set(view)
    const big = words(60, 'big') // 15 full blocks of 20: older cached blocks must go
    expect((await complete(server, { model, prompt: big, max_tokens: 1 })).status).toBe(200)
    // 16 blocks needed, 14 empty: the two least recently used cached blocks go, one when the
    // prompt is admitted, one when the answer's token needs the last block (a later batch).
    const events: KvEvent[] = []
    const removed = () => events.flatMap((e) => (e.type === 'BlockRemoved' ? e.block_hashes : []))
    while (removed().length < 2) events.push(...(await nextBatch()).events)
    expect(events).toContainEqual({
      type: 'BlockStored',
      block_hashes: hashesOf(big),
      parent_block_hash: null,
      block_size: blockSize,
    })
    expect(removed().every((hash) => before.has(hash))).toBe(true)
    // The marker's block was freed first; then the longer prompt's, the tail of its prefix first.
    const longer = `${words(13, 'p')} ${words(8, 'q')}`
    expect(removed()).toEqual([hashesOf(words(4, 'marker'))[0], hashesOf(longer)[4]])
    expect(view.has(hashesOf(longer)[3]!)).toBe(true)
  })

  it("gives a new subscriber a snapshot equal to what the first one's events add up to", async () => {
    const second = await openEventStream(server, '/kv-events')
    try {
      const snapshot = (await second.next()).data as Snapshot
      expect(snapshot.seq).toBe(lastSeq)
      expect(new Set(snapshot.blocks)).toEqual(view)
      expect(view.size).toBeGreaterThan(0)
    } finally {
      second.close()
    }
  })

  it('refuses a subscriber beyond --kv-events-max-subscribers with a 503, and takes one when another leaves', async () => {
    const second = await openEventStream(server, '/kv-events')
    expect(second.status).toBe(200)
    expect(await metric(server, 'serving_lab_kv_event_subscribers')).toBe(2)
    const third = await openEventStream(server, '/kv-events')
    expect(third.status).toBe(503)
    expect((await third.json())?.error).toMatchObject({
      type: 'ServiceUnavailableError',
      code: 'too_many_subscribers',
    })
    second.close()
    const again = await waitFor('a place for another subscriber', async () => {
      const attempt = await openEventStream(server, '/kv-events')
      if (attempt.status !== 200) await attempt.json()
      return attempt.status === 200 && attempt
    })
    again.close()
  })

  it('sends keep-alive comments on an idle stream', async () => {
    const seen = stream.comments.length
    await waitFor('a keep-alive comment', async () => stream.comments.length > seen)
    expect(new Set(stream.comments)).toEqual(new Set([': keep-alive']))
  })

  it('announces AllBlocksCleared when the prefix cache is reset, and snapshots nothing after', async () => {
    expect((await fetch(`${server.url}/reset_prefix_cache`, { method: 'POST' })).status).toBe(200)
    expect((await nextBatch()).events).toEqual([{ type: 'AllBlocksCleared' }])
    const second = await openEventStream(server, '/kv-events')
    expect(((await second.next()).data as Snapshot).blocks).toEqual([])
    second.close()
  })

  it('ends the streams cleanly on SIGTERM, so the drain does not wait for its timeout', async () => {
    const exited = server.stop()
    await stream.ended
    expect((await exited).code).toBe(0)
    expect(logLines(server).map((line) => line.msg)).not.toContain('drain timeout reached, closing open connections')
  })
})
