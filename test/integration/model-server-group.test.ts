// Ranks of one model-server group as real processes on loopback: the rendezvous, a lost rank,
// a rank that comes back, and ranks that do not belong.
import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../scripts/lib/workload-process.ts'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import type { GroupStatus } from '../../workloads/model-server/group/group.ts'
import { complete, groupSecret, logLines, metric, model, startModelServer, waitFor } from './model-server-helpers.ts'

const fastHeartbeats = ['--heartbeat-interval-ms', '200', '--heartbeat-timeout-ms', '1000']

function startRank(nodeRank: number, env: Record<string, string>, flags: string[] = []): Promise<WorkloadProcess> {
  return startModelServer(
    [...fastHeartbeats, '--time-to-first-token-ms', '0', '--inter-token-latency-ms', '5', ...flags],
    {
      MASTER_ADDR: '127.0.0.1',
      NODE_RANK: String(nodeRank),
      GROUP_SECRET: groupSecret,
      ...env,
    },
  )
}

const groupOf = async (server: WorkloadProcess) => (await (await fetch(`${server.url}/group`)).json()) as GroupStatus
const readiness = async (server: WorkloadProcess) => (await fetch(`${server.url}/ready`)).status

/** Every rank reports the same ready group with all its members; returns its generation. */
async function formed(ranks: WorkloadProcess[]): Promise<number> {
  return waitFor('every rank to report the same ready group', async () => {
    const groups = await Promise.all(ranks.map(groupOf))
    const generation = groups[0]!.generation
    const same = groups.every(
      (g) => g.state === 'ready' && g.generation === generation && g.members.length === ranks.length,
    )
    const ready = (await Promise.all(ranks.map(readiness))).every((status) => status === 200)
    return same && ready && generation
  })
}

describe('model-server group of four ranks', () => {
  const ranks: WorkloadProcess[] = []
  let env: Record<string, string>
  beforeAll(async () => {
    env = { MASTER_PORT: String(await freePort()), NNODES: '4', GPUS_PER_NODE: '2' }
    ranks.push(...(await Promise.all([0, 1, 2, 3].map((rank) => startRank(rank, env)))))
  })
  afterAll(() => Promise.all(ranks.map((rank) => rank.stop('SIGKILL'))))
  const leader = () => ranks[0]!

  it('forms: every rank reports the same generation, state ready and four members', async () => {
    const generation = await formed(ranks)
    expect(generation).toBeGreaterThanOrEqual(1)
    const groups = await Promise.all(ranks.map(groupOf))
    expect(groups[2]).toEqual({
      nodeRank: 2,
      nnodes: 4,
      gpusPerNode: 2,
      worldSize: 8,
      globalRanks: [4, 5],
      leader: `127.0.0.1:${env.MASTER_PORT}`,
      state: 'ready',
      generation,
      members: [0, 1, 2, 3],
      reason: null,
    })
  })

  it('serves the API and KV events on the leader only: the other ranks answer 503 naming the leader', async () => {
    const { status, json } = await complete(ranks[1]!, { model, prompt: 'hi' })
    expect(status).toBe(503)
    expect(json.error).toMatchObject({ type: 'ServiceUnavailableError', code: 'not_leader' })
    expect(json.error?.message).toMatch(/only the leader, node rank 0 at 127\.0\.0\.1, serves the API/)
    expect((await fetch(`${ranks[3]!.url}/v1/models`)).status).toBe(503)
    // The KV cache is the leader's: its events too.
    const events = await fetch(`${ranks[2]!.url}/kv-events`)
    expect(events.status).toBe(503)
    expect(((await events.json()) as { error: { code: string } }).error.code).toBe('not_leader')
  })

  it('makes every token step a round trip to every rank', async () => {
    const before = await Promise.all(ranks.map((rank) => metric(rank, 'serving_lab_group_steps_total')))
    const { status } = await complete(leader(), { model, prompt: 'through the group', max_tokens: 6 })
    expect(status).toBe(200)
    const after = await Promise.all(ranks.map((rank) => metric(rank, 'serving_lab_group_steps_total')))
    expect(after.map((steps, i) => steps - before[i]!)).toEqual([6, 6, 6, 6])
  })

  it('loses a killed rank: every other rank turns unready and the leader answers 503', async () => {
    const generation = (await groupOf(leader())).generation
    await ranks[2]!.stop('SIGKILL')
    const others = [ranks[0]!, ranks[1]!, ranks[3]!]
    await waitFor('every remaining rank to be unready', async () =>
      (await Promise.all(others.map(readiness))).every((s) => s === 503),
    )
    const groups = await Promise.all(others.map(groupOf))
    expect(groups.map((g) => [g.state, g.generation])).toEqual([
      ['broken', generation],
      ['broken', generation],
      ['broken', generation],
    ])
    expect(groups[0]!.members).toEqual([0, 1, 3])
    const ready = (await (await fetch(`${leader().url}/ready`)).json()) as { ready: boolean; reason: string }
    expect(ready).toMatchObject({ ready: false, reason: expect.stringContaining('node rank 2') })

    const { status, json } = await complete(leader(), { model, prompt: 'anyone?', max_tokens: 2 })
    expect(status).toBe(503)
    expect(json.error).toMatchObject({ type: 'ServiceUnavailableError', code: 'group_not_ready' })
    expect(await metric(leader(), 'serving_lab_group_ready')).toBe(0)
  })

  it('re-forms under a higher generation when the rank comes back, and serves again', async () => {
    const generation = (await groupOf(leader())).generation
    ranks[2] = await startRank(2, env)
    expect(await formed(ranks)).toBeGreaterThan(generation)
    expect((await complete(leader(), { model, prompt: 'back again', max_tokens: 2 })).status).toBe(200)
  })

  it('fails a request in flight with 503 when a rank is lost, and a stream with an error event', async () => {
    const whole = complete(leader(), { model, prompt: 'a long answer', max_tokens: 2000 })
    const stream = await fetch(`${leader().url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'a long stream', max_tokens: 2000, stream: true }),
    })
    const reader = stream.body!.getReader()
    expect((await reader.read()).done).toBe(false)
    await ranks[3]!.stop('SIGKILL')

    const { status, json } = await whole
    expect(status).toBe(503)
    expect(json.error).toMatchObject({ code: 'group_broken', message: expect.stringContaining('node rank 3') })
    let rest = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      rest += new TextDecoder().decode(chunk.value)
    const events = rest.split('\n\n').filter(Boolean)
    expect(events.at(-1)).toBe('data: [DONE]')
    expect(JSON.parse(events.at(-2)!.slice('data: '.length))).toMatchObject({
      error: { type: 'ServiceUnavailableError', code: 'group_broken' },
    })
    await waitFor(
      'the leader to release both sequences',
      async () => (await metric(leader(), 'vllm:num_requests_running')) === 0,
    )

    ranks[3] = await startRank(3, env)
    await formed(ranks)
  })

  it('drops a rank that stops answering (SIGSTOP) after the heartbeat timeout, and takes it back after SIGCONT', async () => {
    const generation = (await groupOf(leader())).generation
    process.kill(ranks[1]!.pid, 'SIGSTOP')
    try {
      await waitFor('the leader to drop the silent rank', async () => (await groupOf(leader())).state === 'broken')
      expect((await groupOf(leader())).reason).toMatch(/node rank 1 sent no heartbeat for 1000 ms/)
      expect(await readiness(ranks[3]!)).toBe(503)
    } finally {
      process.kill(ranks[1]!.pid, 'SIGCONT')
    }
    expect(await formed(ranks)).toBeGreaterThan(generation)
  })

  it('on SIGTERM a worker says goodbye, so the leader marks it lost at once, and exits 0', async () => {
    const worker = ranks[3]!
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    await waitFor('the leader to be unready', async () => (await readiness(leader())) === 503)
    expect((await groupOf(leader())).reason).toMatch(/node rank 3 left the group \(shutting down\)/)
    const lost = logLines(leader()).findLast((line) => line.msg.startsWith('group broken: node rank 3'))
    expect(lost?.msg).toBe('group broken: node rank 3 left the group (shutting down)')
  })

  it('on SIGTERM the leader says goodbye, and the workers turn unready and wait for it', async () => {
    expect(await leader().stop('SIGTERM')).toEqual({ code: 0, signal: null })
    await waitFor('the workers to see the leader leave', async () =>
      [ranks[1]!, ranks[2]!].every((rank) => logLines(rank).some((line) => line.msg === 'the leader left the group')),
    )
    expect(await readiness(ranks[1]!)).toBe(503)
    expect((await groupOf(ranks[2]!)).state).toBe('broken')
  })
})

describe('model-server group membership rules', () => {
  const processes: WorkloadProcess[] = []
  afterAll(() => Promise.all(processes.map((p) => p.stop('SIGKILL'))))

  it('refuses a rank that expects another group size, and says why on both sides', async () => {
    const masterPort = String(await freePort())
    const leader = await startRank(0, { MASTER_PORT: masterPort, NNODES: '2' })
    const stranger = await startRank(1, { MASTER_PORT: masterPort, NNODES: '3' })
    processes.push(leader, stranger)
    const reason =
      'the group is NNODES 2 × GPUS_PER_NODE 1 = world size 2, but node rank 1 expects NNODES 3 × GPUS_PER_NODE 1 = world size 3'
    await waitFor('the leader to log the refusal', async () =>
      logLines(leader).some((line) => line.msg === `refused node rank 1: ${reason}`),
    )
    await waitFor('the rank to log the refusal', async () =>
      logLines(stranger).some((line) => line.msg === `the leader refused this rank: ${reason}` && line.level === 50),
    )
    expect((await groupOf(leader)).members).toEqual([0])
    expect(await readiness(leader)).toBe(503)
    expect((await groupOf(stranger)).reason).toBe(`the leader refused this rank: ${reason}`)
  })

  it('forms from LeaderWorkerSet variables', async () => {
    const lws = {
      MASTER_PORT: String(await freePort()),
      LWS_LEADER_ADDRESS: '127.0.0.1',
      LWS_GROUP_SIZE: '2',
      GROUP_SECRET: groupSecret,
    }
    const ranks = await Promise.all(
      [0, 1].map((index) => startModelServer(fastHeartbeats, { ...lws, LWS_WORKER_INDEX: String(index) })),
    )
    processes.push(...ranks)
    await formed(ranks)
  })

  it('keeps retrying until the leader is up, then joins', async () => {
    const masterPort = String(await freePort())
    const early = await startRank(1, { MASTER_PORT: masterPort, NNODES: '2' })
    processes.push(early)
    await waitFor('a failed connection attempt', async () =>
      logLines(early).some((line) => line.msg === 'leader not reachable yet'),
    )
    expect(logLines(early).filter((line) => line.level >= 50)).toEqual([])
    const leader = await startRank(0, { MASTER_PORT: masterPort, NNODES: '2' })
    processes.push(leader)
    await formed([leader, early])
  })

  it('exits 2 with a message naming NODE_RANK when it is not a number', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'workloads/model-server/main.ts'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, NODE_RANK: 'llama-1', NNODES: '2' },
      encoding: 'utf8',
    })
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(/^NODE_RANK must be an integer, got "llama-1"/)
  })

  it('exits 2 naming GROUP_SECRET when a group of several ranks has no secret', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'workloads/model-server/main.ts'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, NNODES: '2' },
      encoding: 'utf8',
    })
    expect(result.status).toBe(2)
    expect(result.stderr).toContain('GROUP_SECRET must be set when NNODES > 1')
  })

  it('refuses a rank that does not hold the group secret, and says why on both sides', async () => {
    const masterPort = String(await freePort())
    const leader = await startRank(0, { MASTER_PORT: masterPort, NNODES: '2' })
    const impostor = await startRank(1, {
      MASTER_PORT: masterPort,
      NNODES: '2',
      GROUP_SECRET: 'some-other-secret-entirely',
    })
    processes.push(leader, impostor)
    await waitFor('the rank to log the refusal', async () =>
      logLines(impostor).some((line) =>
        /the leader refused this rank: it does not hold the group secret/.test(line.msg),
      ),
    )
    expect((await groupOf(leader)).members).toEqual([0])
    expect(await readiness(leader)).toBe(503)
  })

  it('exits 2 when WORLD_SIZE counts pods instead of processes', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'workloads/model-server/main.ts'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, NNODES: '2', GPUS_PER_NODE: '4', WORLD_SIZE: '2' },
      encoding: 'utf8',
    })
    expect(result.status).toBe(2)
    expect(result.stderr).toContain('WORLD_SIZE counts processes (one per GPU): NNODES × GPUS_PER_NODE = 8, not 2')
  })
})
