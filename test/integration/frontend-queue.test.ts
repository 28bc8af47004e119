// The frontend as a real process in front of three real model servers that saturate at once
// (two sequences each): ten thousand requests of mixed priorities, deadlines and client aborts
// each end exactly once, higher priorities wait less, and nothing is left behind. Needs no cluster.
import { Agent } from 'node:http'
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { deadlineHeader, priorityHeader } from '../../workloads/frontend/request-fields.ts'
import {
  frontendMetrics,
  model,
  openConnectionsTo,
  seeded,
  send,
  startFrontend,
  startSmallModelServer,
} from './frontend-helpers.ts'
import type { Ended, Outcome, Sent } from './frontend-helpers.ts'
import { waitFor } from './model-server-helpers.ts'

const total = 10_000
const concurrency = 120
const classes = 4

describe('frontend queue under a saturated backend set', () => {
  let servers: WorkloadProcess[] = []
  let frontend: WorkloadProcess

  beforeAll(async () => {
    servers = await Promise.all([startSmallModelServer(), startSmallModelServer(), startSmallModelServer()])
    frontend = await startFrontend(servers, [
      '--default-max-num-seqs',
      '2',
      '--max-queued-per-class',
      '40',
      '--priority-classes',
      String(classes),
    ])
  })

  afterAll(async () => {
    await frontend?.stop()
    await Promise.all(servers.map((s) => s.stop()))
  })

  it('ends each of 10,000 mixed requests exactly once, serves higher priorities first, and leaks nothing', async () => {
    const port = Number(new URL(frontend.url).port)
    const warmup = new Agent({ keepAlive: true })
    expect((await send(frontend.url, warmup, { body: { model, prompt: 'warm up', max_tokens: 1 } })).outcome).toBe(
      'answered',
    )
    warmup.destroy()
    const heapBefore = (await frontendMetrics(frontend))('nodejs_heap_size_used_bytes')
    const connectionsBefore = openConnectionsTo(port)

    const random = seeded(15)
    const requests: (Sent & { priority: number; deadlineMs?: number })[] = Array.from({ length: total }, (_, i) => {
      const priority = Math.floor(random() * classes)
      const inHeader = random() < 0.5
      const deadlineMs = random() < 0.2 ? 5 + Math.floor(random() * 100) : undefined
      const abortAfterMs = random() < 0.1 ? Math.floor(random() * 60) : undefined
      const headers: Record<string, string> = {}
      if (inHeader) headers[priorityHeader] = String(priority)
      if (deadlineMs !== undefined) headers[deadlineHeader] = String(deadlineMs)
      const body = {
        model,
        prompt: `request ${i} of the mixed load`,
        max_tokens: 1 + Math.floor(random() * 4),
        stream: random() < 0.5,
        ...(inHeader ? {} : { priority }),
      }
      return { body, headers, abortAfterMs, priority, deadlineMs }
    })

    const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
    const ended: Ended[] = new Array(total)
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const index = next++
          ended[index] = await send(frontend.url, agent, requests[index]!)
          // A client told to retry later backs off a little, so refusals do not crowd out the rest.
          if (ended[index].outcome === 'rejected') await delay(25)
        }
      }),
    )
    agent.destroy()

    // Each request ended once, with one of the allowed outcomes.
    const counts = new Map<Outcome, number>()
    for (const end of ended) counts.set(end.outcome, (counts.get(end.outcome) ?? 0) + 1)
    const count = (outcome: Outcome) => counts.get(outcome) ?? 0
    console.log(`frontend queue: ${JSON.stringify(Object.fromEntries(counts))}`)
    const unexpected = ended.filter((e) => !['answered', 'rejected', 'expired', 'cancelled'].includes(e.outcome))
    expect(unexpected.slice(0, 5)).toEqual([])
    expect(count('answered') + count('rejected') + count('expired') + count('cancelled')).toBe(total)
    expect(count('answered')).toBeGreaterThan(total / 4)
    expect(count('rejected')).toBeGreaterThan(0)
    expect(count('expired')).toBeGreaterThan(0)
    expect(count('cancelled')).toBeGreaterThan(0)
    for (const end of ended.filter((e) => e.outcome === 'rejected')) expect(end.retryAfter).toMatch(/^\d+$/)
    ended.forEach((end, i) => {
      if (end.outcome !== 'expired') return
      expect(end.code).toBe(end.status === 504 ? 'deadline_exceeded' : 'upstream_timeout')
      // A 504 comes at the deadline, never before it (a little slack for the timers).
      expect(end.elapsedMs).toBeGreaterThanOrEqual(requests[i]!.deadlineMs! - 2)
    })

    // The frontend counted each request once, and agrees with what the clients saw. A client
    // that gave up may have done so before its request arrived (the frontend never saw it) or
    // just as its answer was written (the frontend counted an answer): only those may differ.
    await waitFor('the queue and the in-flight requests to empty', async () => {
      const after = await frontendMetrics(frontend)
      return (
        after('serving_lab_frontend_queued_requests') === 0 && after('serving_lab_frontend_inflight_requests') === 0
      )
    })
    const metric = await frontendMetrics(frontend)
    const byStatus = (status: string) => metric('serving_lab_frontend_requests_total', { status })
    const counted = metric('serving_lab_frontend_requests_total')
    expect(counted).toBeLessThanOrEqual(total)
    expect(counted).toBeGreaterThanOrEqual(total - count('cancelled'))
    expect(byStatus('error') + byStatus('shutting_down')).toBe(0)
    const unseen = [
      byStatus('success') - count('answered'),
      byStatus('deadline_exceeded') - count('expired'),
      byStatus('queue_full') - count('rejected'),
    ]
    for (const surplus of unseen) expect(surplus).toBeGreaterThanOrEqual(0)
    expect(unseen.reduce((a, b) => a + b, 0) + byStatus('cancelled')).toBeLessThanOrEqual(count('cancelled'))
    expect(byStatus('cancelled')).toBeGreaterThan(0)

    // Higher priority (lower number) waits less, on the frontend's own histogram.
    const meanWait = (priority: number) =>
      metric('serving_lab_frontend_queue_wait_seconds_sum', { priority: String(priority) }) /
      metric('serving_lab_frontend_queue_wait_seconds_count', { priority: String(priority) })
    const waits = Array.from({ length: classes }, (_, p) => meanWait(p))
    expect(waits[0]).toBeLessThan(waits[classes - 1]!)
    expect(waits[1]).toBeLessThan(waits[classes - 1]!)

    // Nothing left behind: no backend slot held, no client connection open, no heap kept.
    const backends = (await (await fetch(`${frontend.url}/backends`)).json()) as {
      outstanding: number
      inFlight: number
    }[]
    expect(backends.map((b) => [b.outstanding, b.inFlight])).toEqual(backends.map(() => [0, 0]))
    // The test's own fetch keeps one or two connections of its own, which come and go.
    await waitFor('every client connection closed', async () => openConnectionsTo(port) <= connectionsBefore + 2)
    await delay(100)
    const heapAfter = (await frontendMetrics(frontend))('nodejs_heap_size_used_bytes')
    expect(heapAfter - heapBefore).toBeLessThan(100 * 1024 * 1024)
  })
})
