// Leader election against the kwok cluster's real API server: candidates as processes
// (test/support/elector.ts, bundled), each printing a timeline of what it did, with short timings so the
// suite stays short. Lease 3 s, renew deadline 2 s, retry 0.5 s.
//
// Clock-skew bound: every process runs on this machine and stamps its events with the same wall
// clock, so the skew between timelines is 0 here and the timelines compare directly. On a
// cluster, offsets between clocks do not matter (each candidate trusts only durations it measured
// itself); what must be bounded is the skew *rate*: a leader whose clock runs k times slower than
// a candidate's still stops first while k < leaseDuration / renewDeadline (1.5 here), as client-go
// documents.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { CoordinationV1Api, type KubernetesObject } from '@kubernetes/client-node'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { bundleEntries } from '../../scripts/lib/build/workloads.ts'
import { apply, connect } from '../../scripts/lib/kube.ts'
import { currentContextOnly } from '../../scripts/lib/kubeconfig.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import { FENCING_ANNOTATION } from '../../workloads/shared/fencing.ts'
import { LeaderElector, type LeaseApi } from '../../workloads/shared/leader-election.ts'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts'
import { waitFor } from './model-server-helpers.ts'

const kube = connect(inject('kubeContext'))
const leases = kube.config.makeApiClient(CoordinationV1Api)
const namespace = 'leader-election'
const quiet = () => {}
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 }
const flags = [
  '--lease-duration-ms',
  String(timings.leaseDurationMs),
  '--renew-deadline-ms',
  String(timings.renewDeadlineMs),
  '--retry-period-ms',
  String(timings.retryPeriodMs),
]
/** Timers that fire a little late and timestamps rounded to the millisecond. */
const toleranceMs = 100
/** A candidate takes a free Lease within 2.2 retry periods (client-go's jitter); a process needs a moment to start. */
const startMs = 20_000
/** Long enough for a lease to expire and the next attempt to follow. */
const takeOverMs = timings.leaseDurationMs + 3 * timings.retryPeriodMs * 2.2 + 2000

interface Event {
  event: string
  identity: string
  at: number
  token?: number
  leader?: string
  level?: string
  message?: string
  ok?: boolean
  value?: string
  error?: string
  renewTime?: string
}

class Candidate {
  readonly events: Event[] = []
  readonly exited: Promise<void>
  #stderr = ''

  constructor(
    readonly identity: string,
    readonly child: ChildProcessWithoutNullStreams,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => this.events.push(JSON.parse(line) as Event))
    child.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()))
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()))
  }

  static start(identity: string, lease: string, kubeconfig: string): Candidate {
    const child = spawn(
      process.execPath,
      [electorBundle, '--namespace', namespace, '--lease', lease, '--identity', identity, ...flags],
      { cwd: dir, env: { PATH: process.env.PATH, KUBECONFIG: kubeconfig }, stdio: 'pipe' },
    ).on('error', quiet)
    const candidate = new Candidate(identity, child)
    running.push(candidate)
    return candidate
  }

  find(event: string, where: (e: Event) => boolean = () => true): Event | undefined {
    return this.events.find((e) => e.event === event && where(e))
  }

  last(event: string): Event | undefined {
    return this.events.findLast((e) => e.event === event)
  }

  send(line: string): void {
    this.child.stdin.write(line + '\n')
  }

  describe(): string {
    return `${this.identity}: ${this.events.map((e) => JSON.stringify(e)).join('\n  ')}\n${this.#stderr}`
  }
}

let running: Candidate[] = []
let directKubeconfig = ''
let dir = ''
let electorBundle = ''

/** The event once some candidate has printed it, within `timeoutMs`. */
async function eventFrom(candidates: Candidate[], event: string, timeoutMs: number, where?: (e: Event) => boolean) {
  return waitFor(
    `${event} from one of ${candidates.map((c) => c.identity).join(', ')}`,
    async () => candidates.map((c) => c.find(event, where)).find(Boolean),
    timeoutMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${candidates.map((c) => c.describe()).join('\n')}`)
  })
}

/** Waits until every candidate has seen `leader` lead. */
async function allFollow(candidates: Candidate[], leader: string) {
  for (const candidate of candidates) await eventFrom([candidate], 'new-leader', startMs, (e) => e.leader === leader)
}

async function startGroup(lease: string, identities: string[], kubeconfig = directKubeconfig) {
  const candidates = identities.map((identity) => Candidate.start(identity, lease, kubeconfig))
  const started = await eventFrom(candidates, 'started-leading', startMs)
  await allFollow(candidates, started.identity)
  const leader = candidates.find((c) => c.identity === started.identity)!
  return { candidates, leader, others: candidates.filter((c) => c !== leader), started }
}

const startedLeading = (candidates: Candidate[]) =>
  candidates.flatMap((c) => c.events.filter((e) => e.event === 'started-leading')).sort((x, y) => x.at - y.at)
const warnings = (candidates: Candidate[]) =>
  candidates.flatMap((c) => c.events.filter((e) => e.event === 'log' && e.level === 'warn'))
const lease = (name: string) => leases.readNamespacedLease({ name, namespace })
const renewTimeOf = async (name: string) => Date.parse(String((await lease(name)).spec!.renewTime))

beforeAll(async () => {
  await deleteNamespaces(kube, [namespace], quiet)
  await apply(kube, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as KubernetesObject,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fenced', namespace }, data: {} } as KubernetesObject,
  ])
  dir = await mkdtemp(join(tmpdir(), 'leader-election-'))
  // Bundled once: a process then starts in well under a second, where tsx takes several on a busy machine.
  await bundleEntries([{ in: join(repoRoot, 'test', 'support', 'elector.ts'), out: 'elector' }], dir)
  electorBundle = join(dir, 'elector.mjs')
  directKubeconfig = join(dir, 'direct.yaml')
  await writeFile(directKubeconfig, currentContextOnly(kube.config))
})
afterEach(async () => {
  for (const candidate of running) candidate.child.kill('SIGKILL')
  await Promise.all(running.map((c) => c.exited))
  running = []
})
afterAll(async () => {
  await deleteNamespaces(kube, [namespace], quiet)
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('leader election on a Lease', () => {
  it('of three candidates exactly one leads, with token 0 on a new Lease, and the others follow it', async () => {
    const { candidates, started } = await startGroup('one-of-three', ['a', 'b', 'c'])
    expect(startedLeading(candidates)).toEqual([started])
    expect(started.token).toBe(0)
    const spec = (await lease('one-of-three')).spec!
    expect(spec).toMatchObject({ holderIdentity: started.identity, leaseTransitions: 0, leaseDurationSeconds: 3 })
    // Three creates at once: the losers' 409s are lost races, not errors.
    expect(warnings(candidates)).toEqual([])
  })

  it('after a SIGKILL of the leader (no release) nobody leads before a lease duration past its last renew', async () => {
    const { candidates, leader, others } = await startGroup('killed', ['a', 'b', 'c'])
    leader.child.kill('SIGKILL')
    await leader.exited
    const killedAt = Date.now()
    const lastRenew = await renewTimeOf('killed')
    const next = await eventFrom(others, 'started-leading', takeOverMs)
    console.log(
      `kill: new leader ${next.at - lastRenew} ms after the killed leader's last renew, ${next.at - killedAt} ms after the kill`,
    )
    // Others waited a lease duration from their own sighting of that renew, which came after it was written.
    expect(next.at).toBeGreaterThanOrEqual(lastRenew + timings.leaseDurationMs - toleranceMs)
    expect(startedLeading(candidates).map((e) => e.identity)).toEqual([leader.identity, next.identity])
    expect(next.token).toBe(1)
    expect((await lease('killed')).spec).toMatchObject({ holderIdentity: next.identity, leaseTransitions: 1 })
  })

  describe('a leader cut off from the API server', () => {
    let proxy: TcpProxy | undefined
    afterEach(async () => proxy?.close())

    it('stops leading before anyone else starts, and its late fenced write is refused', async () => {
      const server = new URL(kube.config.getCurrentCluster()!.server)
      // The API server's certificate names 127.0.0.1, whatever the port, so TLS passes through unchanged.
      expect(server.hostname).toBe('127.0.0.1')
      proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) })
      const proxied = join(dir, 'proxied.yaml')
      await writeFile(
        proxied,
        currentContextOnly(kube.config).replace(server.origin, `https://127.0.0.1:${proxy.port}`),
      )

      const cutOff = Candidate.start('cut-off', 'partitioned', proxied)
      await eventFrom([cutOff], 'started-leading', startMs)
      const others = [
        Candidate.start('b', 'partitioned', directKubeconfig),
        Candidate.start('c', 'partitioned', directKubeconfig),
      ]
      await allFollow(others, 'cut-off')
      cutOff.send('write from-cut-off')
      expect(await eventFrom([cutOff], 'write', startMs)).toMatchObject({ ok: true, token: 0 })

      proxy.cut()
      const cutAt = Date.now()
      const stopped = await eventFrom([cutOff], 'stopped-leading', takeOverMs)
      const next = await eventFrom(others, 'started-leading', takeOverMs)
      const gap = next.at - stopped.at
      // The last acquire or renew the leader counted as a success.
      const lastRenew = Date.parse(String(cutOff.events.findLast((e) => e.renewTime)?.renewTime))
      console.log(
        `partition: the cut-off leader stopped ${stopped.at - cutAt} ms after the cut (${stopped.at - lastRenew} ms after its last renew); ` +
          `${next.identity} started ${gap} ms after that`,
      )
      expect(stopped.at).toBeLessThan(next.at)
      expect(gap).toBeGreaterThanOrEqual(timings.leaseDurationMs - timings.renewDeadlineMs - toleranceMs)
      expect(cutOff.find('log', (e) => e.message === 'stopped leading')).toMatchObject({
        reason: 'no renew succeeded within the renew deadline',
      })

      const newLeader = others.find((c) => c.identity === next.identity)!
      newLeader.send('write from-new-leader')
      expect(await eventFrom([newLeader], 'write', startMs)).toMatchObject({ ok: true, token: 1 })
      proxy.heal()
      cutOff.send('write late-from-cut-off')
      expect(await eventFrom([cutOff], 'write', takeOverMs, (e) => e.value === 'late-from-cut-off')).toMatchObject({
        ok: false,
        token: 0,
        error: 'FencedWriteError',
      })
      const map = await kube.core.readNamespacedConfigMap({ name: 'fenced', namespace })
      expect(map.data).toEqual({ value: 'from-new-leader' })
      expect(map.metadata!.annotations![FENCING_ANNOTATION]).toBe('1')
    })
  })

  it('a graceful stop releases the Lease, so another leads before it would have expired', async () => {
    const { leader, others } = await startGroup('released', ['a', 'b'])
    const renewedBeforeStop = await renewTimeOf('released')
    leader.send('stop')
    await leader.exited
    const next = await eventFrom(others, 'started-leading', takeOverMs)
    expect(leader.find('log', (e) => e.message === 'lease released')).toBeDefined()
    expect(leader.last('stopped-leading')).toBeDefined()
    // Without the release the Lease would have been valid until at least here.
    expect(next.at).toBeLessThan(renewedBeforeStop + timings.leaseDurationMs)
    expect(next.token).toBe(1)
  })

  it('a create that loses the race gets the API server’s 409 and follows the winner, without an error', async () => {
    const logs: { level: string; message: string }[] = []
    const log = (level: string) => (_details: object, message: string) => void logs.push({ level, message })
    const newLeaders: string[] = []
    let stopped = 0
    const winner = new LeaderElector({
      kubeConfig: kube.config,
      namespace,
      name: 'raced',
      identity: 'winner',
      ...timings,
      log: { info: quiet, warn: quiet, debug: quiet },
      callbacks: { onStartedLeading: quiet, onStoppedLeading: quiet },
    })
    void winner.run()
    await waitFor('the winner leads', async () => winner.isLeader, startMs)

    // The loser's first read misses the Lease the winner made, so it creates one too.
    let missed = false
    const real = kube.config.makeApiClient(CoordinationV1Api)
    const racing: LeaseApi = {
      readNamespacedLease: (...args) => {
        if (missed) return real.readNamespacedLease(...args)
        missed = true
        return Promise.reject(Object.assign(new Error('not found'), { code: 404 }))
      },
      createNamespacedLease: (...args) => real.createNamespacedLease(...args),
      replaceNamespacedLease: (...args) => real.replaceNamespacedLease(...args),
    }
    const loser = new LeaderElector({
      kubeConfig: kube.config,
      namespace,
      name: 'raced',
      identity: 'loser',
      ...timings,
      leases: racing,
      log: { info: log('info'), warn: log('warn'), debug: log('debug') },
      callbacks: {
        onStartedLeading: () => void logs.push({ level: 'test', message: 'loser started leading' }),
        onStoppedLeading: () => void stopped++,
        onNewLeader: (identity) => void newLeaders.push(identity),
      },
    })
    void loser.run()
    await waitFor('the loser sees the winner', async () => newLeaders.includes('winner'), startMs)
    await loser.stop()
    await winner.stop()
    expect(logs).toContainEqual({ level: 'debug', message: 'lost the race to create the lease' })
    expect(logs.filter((l) => l.level === 'warn' || l.level === 'test')).toEqual([])
    expect(stopped).toBe(1)
    expect(loser.isLeader).toBe(false)
  })
})
