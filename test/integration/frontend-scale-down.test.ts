// A scale-down under steady load, as Kubernetes does it, with real processes on loopback and no
// cluster: the frontend finds three model servers through EndpointSlices (served by a stand-in
// for the API server), a client streams and sends whole requests through it without pause, and
// one model server is taken away while another starts. Every request must succeed, as the
// client measures it.
import { Agent } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../../scripts/lib/project.ts'
import { startWorkload } from '../../scripts/lib/workload-process.ts'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import type { BackendStatus } from '../../workloads/router/backend.ts'
import { readyEndpoint, startEndpointSliceServer, terminatingEndpoint } from './endpoint-slice-server.ts'
import type { EndpointSliceServer } from './endpoint-slice-server.ts'
import { model, send } from './frontend-helpers.ts'
import type { Ended } from './frontend-helpers.ts'
import { startModelServer, waitFor } from './model-server-helpers.ts'

const namespace = 'lab'
const service = 'llama'
const concurrency = 12
const startTimeoutMs = 90_000

const started: WorkloadProcess[] = []
const keep = <T extends WorkloadProcess>(process: T) => (started.push(process), process)
let slices: EndpointSliceServer

beforeAll(async () => {
  slices = await startEndpointSliceServer(namespace, service)
})
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop('SIGKILL')))
  slices.clear()
})
afterAll(async () => {
  await slices.close()
})

/**
 * A model server whose streams last long enough (200 tokens, 5 ms apart: a second) to be in
 * flight when it is stopped. Started with more time than usual to be ready: the test starts
 * five processes, and on a busy machine each can take over 15 s.
 */
const startServer = () =>
  startModelServer(
    [
      '--max-num-seqs',
      '8',
      '--time-to-first-token-ms',
      '0',
      '--prefill-time-per-token-ms',
      '0',
      '--inter-token-latency-ms',
      '5',
      '--load-slowdown',
      '0',
      '--log-level',
      'warn',
    ],
    {},
    { timeoutMs: startTimeoutMs },
  ).then(keep)

const portOf = (server: WorkloadProcess) => Number(new URL(server.url).port)
const addressOf = (server: WorkloadProcess) => new URL(server.url).host

/** The frontend with EndpointSlice discovery, pointed at the stand-in API server. */
const startFrontend = (flags: string[] = []) =>
  startWorkload(
    process.execPath,
    [
      '--import',
      'tsx',
      'workloads/frontend/main.ts',
      '--namespace',
      namespace,
      '--service',
      service,
      '--target-port',
      'http',
      // The default health checks (every 2 s): discovery, not a failed check, takes a server out.
      '--log-level',
      'warn',
      ...flags,
    ],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, KUBECONFIG: slices.kubeconfig },
      readyPath: '/ready',
      timeoutMs: startTimeoutMs,
    },
  ).then(keep)

const backendsOf = async (frontend: WorkloadProcess) =>
  (await (await fetch(`${frontend.url}/backends`)).json()) as (BackendStatus & { inFlight: number })[]

/** A steady client: `concurrency` loops, each alternating a 200-token stream and a 5-token whole answer, until stopped. */
function steadyClient(frontend: WorkloadProcess) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const ended: Ended[] = []
  let running = true
  const loops = Array.from({ length: concurrency }, async (_, loop) => {
    for (let n = loop; running; n++) {
      const stream = n % 2 === 0
      ended.push(
        await send(frontend.url, agent, { body: { model, prompt: 'hello', max_tokens: stream ? 200 : 5, stream } }),
      )
    }
  })
  return {
    ended,
    answeredBy: (server: WorkloadProcess) => ended.filter((e) => e.backend === addressOf(server)),
    async stop() {
      running = false
      await Promise.all(loops)
      agent.destroy()
    },
  }
}

/** Three model servers in the Service's slices, the frontend finding them, and the steady client running. */
async function threeServersUnderLoad(frontendFlags: string[] = []) {
  const servers = await Promise.all([startServer(), startServer(), startServer()])
  servers.forEach((server, i) => slices.set(`s${i}`, portOf(server), [readyEndpoint('127.0.0.1')]))
  const frontend = await startFrontend(frontendFlags)
  await waitFor('the frontend to find three healthy backends', async () => {
    const backends = await backendsOf(frontend)
    return backends.length === 3 && backends.every((b) => b.ready && b.healthy)
  })
  const client = steadyClient(frontend)
  const statusOf = async (server: WorkloadProcess) =>
    (await backendsOf(frontend)).find((s) => s.address === addressOf(server))
  const victim = servers[0]!
  await waitFor('requests answered by the server to drain, and one in flight to it', async () => {
    return client.answeredBy(victim).length >= 10 && ((await statusOf(victim))?.inFlight ?? 0) > 0
  })
  return { frontend, client, victim, statusOf }
}

/** Requests the frontend sent again after a backend did not take them, from its log. */
const requeued = (frontend: WorkloadProcess) => frontend.output().split('queued again').length - 1

describe('frontend: scale-down under steady load', () => {
  it('stops sending to a server marked terminating, which drains and exits while another starts: no request fails', async () => {
    const { frontend, client, victim, statusOf } = await threeServersUnderLoad()

    // The pod is deleted: the EndpointSlice controller marks its endpoint terminating while a
    // preStop hook holds SIGTERM back, and the frontend stops sending it new requests.
    const markedAt = performance.now()
    slices.set('s0', portOf(victim), [terminatingEndpoint('127.0.0.1')])
    await waitFor('the frontend to see the server terminating', async () => (await statusOf(victim))?.ready === false)
    const seenAt = performance.now()

    // Then SIGTERM, with streams still in flight to it: the server finishes them and exits.
    // Meanwhile the autoscaler's new replica comes up.
    const stoppedAt = performance.now()
    const [exit, added] = await Promise.all([victim.stop('SIGTERM'), startServer()])
    expect(exit).toEqual({ code: 0, signal: null })
    slices.set('s0', portOf(victim), null)
    slices.set('s3', portOf(added), [readyEndpoint('127.0.0.1')])
    await waitFor('requests answered by the new server', async () => client.answeredBy(added).length >= 10)
    await client.stop()

    const failed = client.ended.filter((e) => e.outcome !== 'answered')
    expect(failed).toEqual([])
    const drained = client.answeredBy(victim)
    const finishedAfterSigterm = drained.filter((e) => e.startedAt + e.elapsedMs > stoppedAt).length
    expect(drained.filter((e) => e.startedAt < markedAt).length).toBeGreaterThan(0)
    expect(drained.filter((e) => e.startedAt > seenAt)).toEqual([])
    // What it had in flight at SIGTERM was answered in full (a stream ends with [DONE]).
    expect(finishedAfterSigterm).toBeGreaterThan(0)
    console.log(
      `scale-down, preStop first: ${client.ended.length} requests, ${failed.length} failed; the drained server answered ` +
        `${drained.length} (${finishedAfterSigterm} finished after SIGTERM), the new one ` +
        `${client.answeredBy(added).length}; ${requeued(frontend)} sent again`,
    )
  }, 300_000)

  it('without preStop, SIGTERM before the endpoint is marked: what the stopping server refuses goes elsewhere', async () => {
    // Health checks far apart and metrics that never go stale, so that only discovery or a
    // refusal tells the frontend (by default a failed health check or a stale scrape soon would).
    const { frontend, client, victim } = await threeServersUnderLoad([
      '--health-interval-ms',
      '60000',
      '--metrics-staleness-ms',
      '60000',
    ])

    // No preStop: SIGTERM reaches the server before the frontend hears it is terminating. The
    // server closes its port at once, so requests sent to it meanwhile are refused (or answered
    // 503, or their reused connection reset); the endpoint is marked once one has been.
    const stoppedAt = performance.now()
    const exit = victim.stop('SIGTERM')
    await waitFor('a request the stopping server refused, sent to another', async () => requeued(frontend) > 0)
    slices.set('s0', portOf(victim), [terminatingEndpoint('127.0.0.1')])
    expect(await exit).toEqual({ code: 0, signal: null })
    slices.set('s0', portOf(victim), null)
    const after = client.ended.length
    await waitFor('requests answered after the server left', async () => client.ended.length >= after + 20)
    await client.stop()

    const failed = client.ended.filter((e) => e.outcome !== 'answered')
    expect(failed).toEqual([])
    const drained = client.answeredBy(victim)
    const finishedAfterSigterm = drained.filter((e) => e.startedAt + e.elapsedMs > stoppedAt).length
    expect(finishedAfterSigterm).toBeGreaterThan(0)
    console.log(
      `scale-down, SIGTERM first: ${client.ended.length} requests, ${failed.length} failed; the stopped server answered ` +
        `${drained.length} (${finishedAfterSigterm} finished after SIGTERM); ${requeued(frontend)} sent again`,
    )
  }, 300_000)
})
