// The coordinator against the kwok cluster's real API server: replicas in-process, each with its
// own elector, sharing one Lease. Model-server groups run as processes on loopback, and their
// pods live in kwok (where no container runs), so the group probe is pointed at the processes.
import type { CoreV1Event, KubernetesObject, V1Pod } from '@kubernetes/client-node'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { apply, connect } from '../../scripts/lib/kube.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'
import { freePort, type WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import type { GroupStatus } from '../../workloads/model-server/group/group.ts'
import { defaults } from '../../workloads/coordinator/config.ts'
import { ConfigPublisher, GENERATION_ANNOTATION, generationOf } from '../../workloads/coordinator/config-publisher.ts'
import { Coordinator, type CoordinatorLog } from '../../workloads/coordinator/coordinator.ts'
import { EventRecorder } from '../../workloads/coordinator/events.ts'
import { GROUP_READY_CONDITION, conditionOf } from '../../workloads/coordinator/group-state.ts'
import { createCoordinatorMetrics } from '../../workloads/coordinator/metrics.ts'
import type { GroupProbe } from '../../workloads/coordinator/readiness-gates.ts'
import { FENCING_ANNOTATION } from '../../workloads/shared/fencing.ts'
import { groupSecret, startModelServer, waitFor } from './model-server-helpers.ts'

const kube = connect(inject('kubeContext'))
const namespace = 'coordinator'
const quiet = () => {}
const settings = {
  ...defaults,
  namespace,
  leaseDurationMs: 3000,
  renewDeadlineMs: 2000,
  retryPeriodMs: 500,
  probeIntervalMs: 300,
  probeTimeoutMs: 250,
}
/** A replica takes a free Lease within a few retry periods; a stale one after a lease duration more. */
const electionMs = 20_000

interface LogLine {
  level: string
  details: object
  message: string
}

/** A logger that keeps its lines, so a test can read what a replica said. */
function memoryLog(lines: LogLine[] = []): CoordinatorLog & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (details: object, message: string): void =>
      void lines.push({ level, details, message })
  return { lines, info: at('info'), warn: at('warn'), debug: at('debug'), child: () => memoryLog(lines) }
}

let running: Coordinator[] = []

function startReplicas(lease: string, identities: string[], probe?: GroupProbe) {
  const replicas = identities.map((identity) => {
    const metrics = createCoordinatorMetrics()
    const log = memoryLog()
    const coordinator = new Coordinator({
      settings: { ...settings, identity, leaseName: lease },
      kubeConfig: kube.config,
      metrics,
      log,
      probe,
    })
    coordinator.start()
    running.push(coordinator)
    return { identity, coordinator, metrics, log }
  })
  return replicas
}

type Replica = ReturnType<typeof startReplicas>[number]

/** The one replica that leads, once every replica knows it. */
async function leaderOf(replicas: Replica[]): Promise<Replica> {
  return waitFor(
    'one replica to lead and every replica to know it',
    async () => {
      const leaders = replicas.filter((r) => r.coordinator.status().role === 'leader')
      if (leaders.length !== 1) return undefined
      const known = replicas.every((r) => r.coordinator.status().leader === leaders[0]!.identity)
      return known && leaders[0]
    },
    electionMs,
  )
}

const readMap = (name: string) => kube.core.readNamespacedConfigMap({ name, namespace })
const writeDesired = (data: Record<string, string>, annotations: Record<string, string> = {}) =>
  apply(kube, [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: settings.desiredConfigMap, namespace, annotations },
      data,
    } as KubernetesObject,
  ])

async function events(reason: string): Promise<CoreV1Event[]> {
  const list = await kube.core.listNamespacedEvent({ namespace, fieldSelector: `reason=${reason}` })
  return list.items
}

beforeAll(async () => {
  await deleteNamespaces(kube, [namespace], quiet)
  await apply(kube, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as KubernetesObject])
})
afterEach(async () => {
  await Promise.all(running.map((c) => c.stop()))
  running = []
})
afterAll(() => deleteNamespaces(kube, [namespace], quiet))

describe('coordinator: configuration sharing', () => {
  it('of three replicas one leads, records LeaderElected, and the others stand by knowing it', async () => {
    const replicas = startReplicas('config', ['a', 'b', 'c'])
    const leader = await leaderOf(replicas)
    const status = leader.coordinator.status()
    expect(status).toMatchObject({ role: 'leader', identity: leader.identity, token: 0 })
    for (const other of replicas.filter((r) => r !== leader))
      expect(other.coordinator.status()).toMatchObject({ role: 'standby', leader: leader.identity, token: null })
    const elected = await waitFor('a LeaderElected Event', async () => (await events('LeaderElected'))[0])
    expect(elected.involvedObject).toMatchObject({ kind: 'Lease', name: 'config' })
    expect(elected.message).toContain(`${leader.identity} leads with fencing token 0`)
  })

  it('publishes a valid edit with the next generation and the fencing token; an invalid one is refused with a Warning Event and the accepted one stays', async () => {
    await writeDesired({ 'max-num-seqs': '8', policy: 'round-robin' })
    const replicas = startReplicas('config', ['a', 'b'])
    const leader = await leaderOf(replicas)
    const token = String(leader.coordinator.status().token)

    const first = await waitFor('the accepted ConfigMap', () => readMap(settings.acceptedConfigMap))
    expect(first.data).toEqual({ 'max-num-seqs': '8', policy: 'round-robin' })
    expect(first.metadata!.annotations).toMatchObject({ [GENERATION_ANNOTATION]: '1', [FENCING_ANNOTATION]: token })

    await writeDesired({ 'max-num-seqs': '16', policy: 'round-robin' })
    const second = await waitFor('generation 2', async () => {
      const map = await readMap(settings.acceptedConfigMap)
      return generationOf(map) === 2 && map
    })
    expect(second.data).toEqual({ 'max-num-seqs': '16', policy: 'round-robin' })
    expect(second.metadata!.annotations![FENCING_ANNOTATION]).toBe(token)
    const accepted = await waitFor('a ConfigAccepted Event for generation 2', async () =>
      (await events('ConfigAccepted')).find((e) => e.message?.includes('generation 2')),
    )
    expect(accepted.involvedObject).toMatchObject({ kind: 'ConfigMap', name: settings.desiredConfigMap })
    expect(accepted.reportingInstance).toBe(leader.identity)

    // The same data again (only an annotation changed): no new generation. Then an invalid edit.
    await writeDesired({ 'max-num-seqs': '16', policy: 'round-robin' }, { note: 'same data' })
    await writeDesired({ 'max-num-seqs': '0', policy: 'round-robin' })
    const rejected = await waitFor('a ConfigRejected Event', async () => (await events('ConfigRejected'))[0])
    expect(rejected.type).toBe('Warning')
    expect(rejected.involvedObject).toMatchObject({ kind: 'ConfigMap', name: settings.desiredConfigMap })
    expect(rejected.message).toContain('max-num-seqs must be an integer at least 1 (got 0)')
    expect(rejected.message).toContain('stays at generation 2')
    const after = await readMap(settings.acceptedConfigMap)
    expect(after.metadata!.resourceVersion).toBe(second.metadata!.resourceVersion)
    const refused = leader.log.lines.find((line) => line.message.startsWith('desired serving configuration refused'))
    expect(refused?.details).toMatchObject({ errors: [expect.stringContaining('max-num-seqs')] })
  })

  it('a deposed leader cannot overwrite the accepted ConfigMap: its token is older than the one stored', async () => {
    const replicas = startReplicas('config', ['a', 'b'])
    const first = await leaderOf(replicas)
    const oldToken = first.coordinator.status().token!
    await first.coordinator.stop()
    const next = await leaderOf(replicas.filter((r) => r !== first))
    const newToken = next.coordinator.status().token!
    expect(newToken).toBeGreaterThan(oldToken)
    await writeDesired({ 'max-num-seqs': '32' })
    const published = await waitFor('the new leader to publish max-num-seqs 32', async () => {
      const map = await readMap(settings.acceptedConfigMap)
      return map.data?.['max-num-seqs'] === '32' && map
    })
    expect(published.metadata!.annotations![FENCING_ANNOTATION]).toBe(String(newToken))

    // The old leader, paused through its loss of the Lease, wakes and publishes what it last saw.
    await apply(kube, [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'stale-desired', namespace },
        data: { 'max-num-seqs': '4' },
      } as KubernetesObject,
    ])
    const log = memoryLog()
    const stale = new ConfigPublisher({
      kubeConfig: kube.config,
      core: kube.core,
      namespace,
      desired: 'stale-desired',
      accepted: settings.acceptedConfigMap,
      relistIntervalMs: settings.relistIntervalMs,
      events: new EventRecorder(kube.core, namespace, first.identity, log),
      metrics: createCoordinatorMetrics(),
      log,
    })
    const signal = new AbortController()
    const running = stale.run({ token: oldToken, signal: signal.signal })
    try {
      await waitFor('the deposed leader to be refused', async () =>
        log.lines.find((line) => line.message.includes('a newer leader wrote the accepted ConfigMap')),
      )
    } finally {
      signal.abort()
      await running
    }
    const after = await readMap(settings.acceptedConfigMap)
    expect(after.metadata!.resourceVersion).toBe(published.metadata!.resourceVersion)
    expect(after.data).toEqual({ 'max-num-seqs': '32' })
  })
})

describe('coordinator: readiness gates', () => {
  const ranks: WorkloadProcess[] = []
  afterEach(() => Promise.all(ranks.splice(0).map((rank) => rank.stop('SIGKILL'))))

  function groupPod(rank: number): KubernetesObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `llama-0-${rank}`,
        namespace,
        labels: {
          'app.kubernetes.io/component': 'model-server',
          'leaderworkerset.sigs.k8s.io/name': 'llama',
          'leaderworkerset.sigs.k8s.io/group-index': '0',
          'leaderworkerset.sigs.k8s.io/worker-index': String(rank),
        },
      },
      spec: {
        readinessGates: [{ conditionType: GROUP_READY_CONDITION }],
        containers: [{ name: 'model-server', image: 'serving-lab/workloads:test' }],
      },
    } as KubernetesObject
  }

  const conditions = async () => {
    const pods = await kube.core.listNamespacedPod({
      namespace,
      labelSelector: 'leaderworkerset.sigs.k8s.io/name=llama',
    })
    return pods.items.map((pod: V1Pod) => conditionOf(pod))
  }

  it('sets group-ready True on every rank once the group formed, and False when a rank is killed; only the leader writes', async () => {
    await apply(kube, [groupPod(0), groupPod(1)])
    const env = {
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(await freePort()),
      NNODES: '2',
      GROUP_SECRET: groupSecret,
    }
    const flags = ['--heartbeat-interval-ms', '200', '--heartbeat-timeout-ms', '1000']
    ranks.push(
      ...(await Promise.all([0, 1].map((rank) => startModelServer(flags, { ...env, NODE_RANK: String(rank) })))),
    )
    const rankZero = ranks[0]!
    const probe: GroupProbe = async (pod, signal) => {
      expect(pod.metadata?.name).toBe('llama-0-0')
      return (await (await fetch(`${rankZero.url}/group`, { signal })).json()) as GroupStatus
    }
    const replicas = startReplicas('gates', ['a', 'b'], probe)
    const leader = await leaderOf(replicas)

    await waitFor('group-ready True on both ranks', async () => {
      const now = await conditions()
      return now.length === 2 && now.every((c) => c?.status === 'True' && c.reason === 'GroupReady')
    })
    const formed = await waitFor('a GroupFormed Event', async () => (await events('GroupFormed'))[0]).catch((error) => {
      console.log(
        JSON.stringify(
          leader.log.lines.filter((l) => l.level !== 'debug'),
          null,
          1,
        ).slice(0, 6000),
      )
      throw error
    })
    expect(formed.message).toContain('LeaderWorkerSet/llama/0: all 2 ranks joined')
    expect(formed.involvedObject).toMatchObject({ kind: 'Pod', name: 'llama-0-0' })

    await ranks[1]!.stop('SIGKILL')
    const broken = await waitFor('group-ready False on both ranks', async () => {
      const now = await conditions()
      return now.every((c) => c?.status === 'False') && now
    })
    expect(broken.map((c) => c!.reason)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Group(Forming|Broken)$/)]),
    )
    const brokenEvent = await waitFor('a GroupBroken Event', async () => (await events('GroupBroken'))[0])
    expect(brokenEvent.type).toBe('Warning')

    // A rank's pod going is enough, whatever rank 0 says.
    await kube.core.deleteNamespacedPod({ name: 'llama-0-1', namespace })
    await waitFor('rank 0 False with RankMissing', async () => {
      const pod = await kube.core.readNamespacedPod({ name: 'llama-0-0', namespace })
      return conditionOf(pod)?.reason === 'RankMissing'
    })

    // Every write came from the leader: the standby never touched a pod.
    const updates = async (replica: Replica) =>
      (await replica.metrics.conditionUpdates.get()).values.reduce((sum, v) => sum + v.value, 0)
    expect(await updates(leader)).toBeGreaterThanOrEqual(4)
    for (const other of replicas.filter((r) => r !== leader)) expect(await updates(other)).toBe(0)
    for (const event of [formed, brokenEvent]) expect(event.reportingInstance).toBe(leader.identity)
  })
})
