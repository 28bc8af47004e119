/**
 * The scheduler: watches pods, nodes and PodGroups all the time, and, only while it holds the
 * Lease, runs scheduling cycles. A cycle takes the pods whose spec.schedulerName is its own and
 * that no node holds yet, gathers them into gangs, places each gang whole or not at all
 * (placement.ts), and binds every member through the pod's `binding` subresource.
 *
 * Between a bind and the watch reporting it, the pod is "assumed" on its node (kube-scheduler's
 * word), so the next cycle counts its GPUs. A bind the API server refuses is not forced: a 409
 * means the pod was bound already (by an old leader, say) or changed, a 404 that it is gone;
 * either way the pod is read again and the next cycle decides afresh. Before binding, each
 * target node is read again, so a node deleted since the watch last spoke is not bound to.
 * Binding is per pod, so "all or nothing" is the decision: if a bind fails after its gang
 * mates', those keep their nodes and the rest of the gang is placed next cycle.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { CoreV1Api, CustomObjectsApi, ResourceV1Api } from '@kubernetes/client-node'
import type { KubeConfig, V1Node, V1Pod, V1ResourceSlice } from '@kubernetes/client-node'
import type { Gpu } from '../gpu-inventory/nvidia-smi.ts'
import { gpusOfSlice } from '../gpu-inventory/resource-slice.ts'
import { FENCING_ANNOTATION } from '../shared/fencing.ts'
import { LeaderElector, type ElectionLog, type Leadership } from '../shared/leader-election.ts'
import { listAndWatch } from '../shared/list-and-watch.ts'
import type { SchedulerConfig } from './config.ts'
import { EventReasons, PodEvents } from './events.ts'
import { assembleGangs, POD_GROUPS, podKey, type Gang, type PodGroup } from './gangs.ts'
import { planCycle, type Reservation } from './cycle.ts'
import { acceptsPods, gpuState, type NodeGpus } from './gpu-state.ts'
import type { SchedulerMetrics } from './metrics.ts'
import type { Placement } from './placement.ts'
import { StatusWriter } from './status.ts'

/** On every pod this scheduler binds: which replica bound it (the fencing token is beside it). */
export const SCHEDULED_BY_ANNOTATION = 'serving-lab.io/scheduled-by'

export { POD_GROUPS }

export type SchedulerSettings = Pick<
  SchedulerConfig,
  | 'schedulerName'
  | 'namespace'
  | 'identity'
  | 'leaseName'
  | 'leaseDurationMs'
  | 'renewDeadlineMs'
  | 'retryPeriodMs'
  | 'nodeSelector'
  | 'inventoryDriver'
  | 'batchDelayMs'
  | 'relistIntervalMs'
>

export interface SchedulerLog extends ElectionLog {
  child(bindings: Record<string, unknown>): SchedulerLog
}

export interface SchedulerOptions {
  settings: SchedulerSettings
  kubeConfig: KubeConfig
  metrics: SchedulerMetrics
  log: SchedulerLog
}

export interface SchedulerStatus {
  identity: string
  role: 'leader' | 'standby'
  leader: string | null
  token: number | null
  /** Whether pods, nodes and PodGroups have each been listed once. */
  synced: boolean
}

const statusOf = (error: unknown) => (error as { code?: number } | null)?.code

export class Scheduler {
  readonly #options: SchedulerOptions
  readonly #core: CoreV1Api
  readonly #custom: CustomObjectsApi
  readonly #resource: ResourceV1Api
  readonly #events: PodEvents
  readonly #status: StatusWriter
  readonly #watching = new AbortController()
  #pods = new Map<string, V1Pod>()
  #nodes = new Map<string, V1Node>()
  #podGroups = new Map<string, PodGroup>()
  /** The live GPU inventory: each node's GPUs from its ResourceSlice, by node name. */
  #inventory = new Map<string, Gpu[]>()
  readonly #listed = new Set<string>()
  /** Pods bound (or being bound) by this replica that the watch has not shown on a node yet: key → node. */
  readonly #assumed = new Map<string, string>()
  /** When each pending gang was first seen, by this replica's monotonic clock. */
  readonly #firstSeen = new Map<string, number>()
  /** The nodes held for the oldest waiting gang, as the last cycle left them (cycle.ts). */
  #reservation: Reservation | undefined
  /** The last FailedScheduling message per gang, so an unchanged reason is not recorded again. */
  readonly #lastFailure = new Map<string, string>()
  /** Waiting gangs' reasons not written yet, the latest per gang. */
  readonly #unreported = new Map<string, { gang: Gang; reason: string }>()
  #reporting: Promise<void> | undefined
  #dirty = true
  #wake: (() => void) | undefined
  #elector: LeaderElector | undefined
  #leader: string | null = null
  #leadership: Leadership | undefined
  #stopped = false
  #running: Promise<unknown> = Promise.resolve()

  constructor(options: SchedulerOptions) {
    this.#options = options
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api)
    this.#custom = options.kubeConfig.makeApiClient(CustomObjectsApi)
    this.#resource = options.kubeConfig.makeApiClient(ResourceV1Api)
    const { settings, log } = options
    this.#events = new PodEvents(
      this.#core,
      settings.schedulerName,
      settings.identity,
      log.child({ component: 'events' }),
    )
    this.#status = new StatusWriter(this.#core, this.#custom, log.child({ component: 'status' }))
  }

  status(): SchedulerStatus {
    const leading = this.#leadership !== undefined && !this.#leadership.signal.aborted
    return {
      identity: this.#options.settings.identity,
      role: leading ? 'leader' : 'standby',
      leader: this.#leader,
      token: leading ? this.#leadership!.token : null,
      synced: this.#synced(),
    }
  }

  /** The GPUs free per node as this replica sees them now. */
  gpus(): NodeGpus[] {
    return gpuState(this.#nodes.values(), this.#podsWithAssumed(), this.#inventory)
  }

  /** Whether every collection watched has been listed once. */
  #synced(): boolean {
    return this.#listed.size === (this.#options.settings.inventoryDriver ? 4 : 3)
  }

  start(): void {
    this.#running = Promise.all([this.#watch(), this.#campaign()])
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#watching.abort()
    this.#wake?.()
    await this.#elector?.stop()
    await this.#running
    await this.#reporting
  }

  #watch(): Promise<unknown> {
    const { settings, kubeConfig, log } = this.#options
    const common = {
      kubeConfig,
      relistIntervalMs: settings.relistIntervalMs,
      signal: this.#watching.signal,
      keyOf: podKey,
    }
    const active = 'status.phase!=Succeeded,status.phase!=Failed'
    return Promise.all([
      listAndWatch<V1Pod>({
        ...common,
        path: '/api/v1/pods',
        fieldSelector: active,
        list: () => this.#core.listPodForAllNamespaces({ fieldSelector: active }),
        log: log.child({ watch: 'pods' }),
        onChange: (pods) => this.#changed('pods', () => (this.#pods = pods)),
      }),
      listAndWatch<V1Node>({
        ...common,
        path: '/api/v1/nodes',
        labelSelector: settings.nodeSelector || undefined,
        list: () => this.#core.listNode({ labelSelector: settings.nodeSelector || undefined }),
        log: log.child({ watch: 'nodes' }),
        onChange: (nodes) => this.#changed('nodes', () => (this.#nodes = nodes)),
      }),
      listAndWatch<PodGroup>({
        ...common,
        path: `/apis/${POD_GROUPS.group}/${POD_GROUPS.version}/${POD_GROUPS.plural}`,
        list: () => this.#custom.listClusterCustomObject(POD_GROUPS),
        log: log.child({ watch: 'podgroups' }),
        onChange: (groups) => this.#changed('podgroups', () => (this.#podGroups = groups)),
      }),
      settings.inventoryDriver &&
        listAndWatch<V1ResourceSlice>({
          ...common,
          path: '/apis/resource.k8s.io/v1/resourceslices',
          fieldSelector: `spec.driver=${settings.inventoryDriver}`,
          list: () => this.#resource.listResourceSlice({ fieldSelector: `spec.driver=${settings.inventoryDriver}` }),
          log: log.child({ watch: 'resourceslices' }),
          onChange: (slices) =>
            this.#changed('resourceslices', () => {
              this.#inventory = new Map(
                [...slices.values()]
                  .filter((slice) => slice.spec.nodeName)
                  .map((slice) => [slice.spec.nodeName!, gpusOfSlice(slice)]),
              )
            }),
        }),
    ])
  }

  #changed(what: string, update: () => void): void {
    update()
    this.#listed.add(what)
    this.#dirty = true
    this.#wake?.()
  }

  /** The pods as last seen, with the ones this replica assumed on a node shown there. */
  #podsWithAssumed(): V1Pod[] {
    const pods: V1Pod[] = []
    for (const [key, pod] of this.#pods) {
      const assumed = this.#assumed.get(key)
      if (assumed && pod.spec?.nodeName) this.#assumed.delete(key)
      pods.push(assumed && !pod.spec?.nodeName ? { ...pod, spec: { ...pod.spec!, nodeName: assumed } } : pod)
    }
    for (const key of this.#assumed.keys()) if (!this.#pods.has(key)) this.#assumed.delete(key)
    return pods
  }

  async #campaign(): Promise<void> {
    const { settings, kubeConfig, log, metrics } = this.#options
    while (!this.#stopped) {
      const work: Promise<void>[] = []
      this.#elector = new LeaderElector({
        kubeConfig,
        namespace: settings.namespace,
        name: settings.leaseName,
        identity: settings.identity,
        leaseDurationMs: settings.leaseDurationMs,
        renewDeadlineMs: settings.renewDeadlineMs,
        retryPeriodMs: settings.retryPeriodMs,
        log,
        callbacks: {
          onStartedLeading: (leadership) => void work.push(this.#lead(leadership)),
          onStoppedLeading: () => metrics.isLeader.set(0),
          onNewLeader: (identity) => (this.#leader = identity),
        },
      })
      await this.#elector.run()
      await Promise.all(work)
      this.#leadership = undefined
    }
  }

  async #lead(leadership: Leadership): Promise<void> {
    const { settings, metrics, log } = this.#options
    this.#leadership = leadership
    this.#leader = settings.identity
    metrics.isLeader.set(1)
    // What an earlier leadership assumed may never have been bound: start from what the API says.
    this.#assumed.clear()
    this.#lastFailure.clear()
    this.#unreported.clear()
    this.#reservation = undefined
    const { signal } = leadership
    const woken = () => new Promise<void>((resolve) => (this.#wake = resolve))
    signal.addEventListener('abort', () => this.#wake?.())
    while (!signal.aborted && !this.#stopped) {
      if (!this.#dirty || !this.#synced()) await woken()
      if (signal.aborted || this.#stopped) break
      if (!this.#synced()) continue
      await sleep(settings.batchDelayMs)
      this.#dirty = false
      try {
        await this.#cycle(leadership)
      } catch (error) {
        log.warn({ err: error }, 'scheduling cycle failed; trying again')
        this.#dirty = true
        await sleep(1000)
      }
    }
  }

  async #cycle(leadership: Leadership): Promise<void> {
    const { settings, metrics, log } = this.#options
    const pods = this.#podsWithAssumed()
    const state = gpuState(this.#nodes.values(), pods, this.#inventory)
    const ours = pods.filter((p) => p.spec?.schedulerName === settings.schedulerName)
    const pending = ours.filter((p) => !p.spec?.nodeName && !p.metadata?.deletionTimestamp)
    const bound = ours.filter((p) => p.spec?.nodeName)
    const gangs = assembleGangs(pending, bound, this.#podGroups.values())
    metrics.pendingGangs.set(gangs.length)
    const now = performance.now()
    for (const key of this.#firstSeen.keys()) if (!gangs.some((g) => g.key === key)) this.#firstSeen.delete(key)
    // A gang that left (its pods bound or gone) and comes back under the same name is told why it waits again.
    for (const key of this.#lastFailure.keys()) if (!gangs.some((g) => g.key === key)) this.#lastFailure.delete(key)
    const plan = planCycle(gangs, state, this.#reservation)
    if (
      plan.reservation?.gang !== this.#reservation?.gang ||
      plan.reservation?.nodes.join() !== this.#reservation?.nodes.join()
    )
      log.info({ reservation: plan.reservation ?? null }, 'nodes held for the oldest waiting gang')
    this.#reservation = plan.reservation
    metrics.reservedNodes.set(plan.reservation?.nodes.length ?? 0)
    const binds: Promise<void>[] = []
    for (const decision of plan.decisions) {
      const { gang } = decision
      if (!this.#firstSeen.has(gang.key)) this.#firstSeen.set(gang.key, now)
      if (decision.kind !== 'place') {
        binds.push(this.#failed(gang, decision.reason))
        continue
      }
      for (const member of gang.pending) this.#assumed.set(member.key, decision.placement.nodes.get(member.key)!)
      binds.push(this.#bindGang(gang, decision.placement, leadership))
    }
    await Promise.all(binds)
    for (const node of this.gpus()) metrics.freeGpus.set({ node: node.name }, node.free)
  }

  /**
   * Reports why a gang waits: Events, PodScheduled=False, the PodGroup's phase. The writes run
   * beside the cycles rather than in them, so a full cluster with many waiting gangs, whose
   * reasons change with each bind, does not slow binding; only each gang's latest reason is
   * written.
   */
  #failed(gang: Gang, reason: string): Promise<void> {
    if (this.#lastFailure.get(gang.key) === reason) return Promise.resolve()
    this.#lastFailure.set(gang.key, reason)
    this.#unreported.set(gang.key, { gang, reason })
    if (!this.#reporting) this.#reporting = this.#report().finally(() => (this.#reporting = undefined))
    return Promise.resolve()
  }

  async #report(): Promise<void> {
    while (this.#unreported.size > 0) {
      const batch = [...this.#unreported.values()]
      this.#unreported.clear()
      await Promise.all(
        batch.flatMap(({ gang, reason }) => {
          const message = `${gang.podGroup ? `gang ${gang.key}` : 'pod'}: ${reason}`
          return [
            ...gang.pending.map((m) => this.#events.record(m.pod, 'Warning', EventReasons.failedScheduling, message)),
            ...gang.pending.map((m) => this.#status.unschedulable(m.pod, message)),
            gang.podGroup ? this.#status.podGroupPhase(this.#podGroups.get(gang.key), 'Pending') : undefined,
          ]
        }),
      )
    }
  }

  async #bindGang(gang: Gang, placement: Extract<Placement, { ok: true }>, leadership: Leadership): Promise<void> {
    const { metrics, log } = this.#options
    const unassume = () => gang.pending.forEach((m) => this.#assumed.delete(m.key))
    const gone = await this.#goneNode(new Set(placement.nodes.values()))
    if (gone) {
      unassume()
      this.#dirty = true
      return this.#failed(gang, `node ${gone} is gone or no longer takes pods; placing again`)
    }
    this.#lastFailure.delete(gang.key)
    this.#unreported.delete(gang.key)
    const where = `${placement.level === 'nvlink' ? 'one NVLink domain' : `one ${placement.level}`}, ${placement.nvlinkDomains} NVLink domain${placement.nvlinkDomains === 1 ? '' : 's'}`
    const results = await Promise.all(
      gang.pending.map(async (member) => {
        const node = placement.nodes.get(member.key)!
        if (leadership.signal.aborted) {
          this.#assumed.delete(member.key)
          return false
        }
        const result = await this.#bind(member.pod, node, leadership)
        metrics.bindings.inc({ result })
        if (result !== 'bound') {
          this.#assumed.delete(member.key)
          this.#dirty = true
          return false
        }
        const gangText = gang.podGroup ? ` (gang ${gang.key}: ${gang.pending.length} pods in ${where})` : ''
        await this.#events.record(
          member.pod,
          'Normal',
          EventReasons.scheduled,
          `Successfully assigned ${member.key} to ${node}${gangText}`,
        )
        return true
      }),
    )
    if (results.every(Boolean)) {
      if (gang.podGroup) await this.#status.podGroupPhase(this.#podGroups.get(gang.key), 'Scheduling')
      const seconds = (performance.now() - (this.#firstSeen.get(gang.key) ?? performance.now())) / 1000
      metrics.placementLatency.observe({ level: placement.level }, seconds)
      this.#firstSeen.delete(gang.key)
      log.info({ gang: gang.key, level: placement.level, nodes: Object.fromEntries(placement.nodes) }, 'gang bound')
    }
  }

  /** The first of the nodes that is gone or takes no pods, read from the API now; undefined if all are fine. */
  async #goneNode(names: Set<string>): Promise<string | undefined> {
    for (const name of names) {
      try {
        if (!acceptsPods(await this.#core.readNode({ name }))) return name
      } catch (error) {
        if (statusOf(error) === 404) return name
        throw error
      }
    }
    return undefined
  }

  /** POSTs the pod's Binding; on a refusal, reads the pod again to say why. */
  async #bind(pod: V1Pod, node: string, leadership: Leadership): Promise<'bound' | 'conflict' | 'gone' | 'error'> {
    const { settings, log } = this.#options
    const namespace = pod.metadata!.namespace!
    const name = pod.metadata!.name!
    try {
      await this.#core.createNamespacedPodBinding({
        name,
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          // The uid makes the API server refuse the bind if the pod was deleted and made again under the same name.
          // Its annotations are copied onto the pod.
          metadata: {
            name,
            namespace,
            uid: pod.metadata!.uid,
            annotations: {
              [SCHEDULED_BY_ANNOTATION]: settings.identity,
              [FENCING_ANNOTATION]: String(leadership.token),
            },
          },
          target: { apiVersion: 'v1', kind: 'Node', name: node },
        },
      })
      return 'bound'
    } catch (error) {
      const code = statusOf(error)
      if (code === 404) return 'gone'
      const current = await this.#core.readNamespacedPod({ name, namespace }).catch(() => undefined)
      if (!current) return 'gone'
      this.#pods.set(podKey(current), current)
      if (code === 409) {
        log.info({ pod: `${namespace}/${name}`, node, boundTo: current.spec?.nodeName }, 'bind refused: conflict')
        return 'conflict'
      }
      log.warn({ err: error, pod: `${namespace}/${name}`, node }, 'bind failed')
      return 'error'
    }
  }
}
