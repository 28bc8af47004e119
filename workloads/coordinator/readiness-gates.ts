import { setTimeout as sleep } from 'node:timers/promises'
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import type { CoreV1Api, KubeConfig, V1Pod } from '@kubernetes/client-node'
import type { GroupStatus } from '../model-server/group/group.ts'
import type { Leadership } from '../shared/leader-election.ts'
import { EventReasons, type EventRecorder } from './events.ts'
import {
  conditionMatches,
  conditionOf,
  GROUP_READY_CONDITION,
  groupsOf,
  verdictOf,
  type ProbeResult,
  readyReason,
  type Verdict,
} from './group-state.ts'
import type { CoordinatorMetrics } from './metrics.ts'
import { listAndWatch, type WatchLog } from '../shared/list-and-watch.ts'

/** Asks a group's rank 0 for its `GET /group` answer. Tests point it at processes on loopback. */
export type GroupProbe = (leader: V1Pod, signal: AbortSignal) => Promise<GroupStatus>

/** `GET http://POD_IP:PORT/group`, bounded by `timeoutMs`. */
export function httpGroupProbe(port: number, timeoutMs: number): GroupProbe {
  return async (leader, signal) => {
    const ip = leader.status?.podIP
    if (!ip) throw new Error('the pod has no IP yet')
    const host = ip.includes(':') ? `[${ip}]` : ip
    const response = await fetch(`http://${host}:${port}/group`, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    return (await response.json()) as GroupStatus
  }
}

export interface GatesLog extends WatchLog {
  info(details: object, message: string): void
}

export interface ReadinessGatesOptions {
  kubeConfig: KubeConfig
  core: CoreV1Api
  namespace: string
  podSelector: string
  probe: GroupProbe
  probeIntervalMs: number
  relistIntervalMs: number
  events: EventRecorder
  metrics: CoordinatorMetrics
  log: GatesLog
}

/**
 * While this replica leads: watches the model-server pods, asks each group's rank 0 whether
 * every rank joined, and sets the `serving-lab.io/group-ready` condition on every rank's pod
 * status: True once the whole group formed, False with a reason as soon as it breaks or a rank's
 * pod goes. A pod that lists the condition in `spec.readinessGates` is Ready only while it is
 * True, so no Service or router counts half a group. Each group is checked again on every pod
 * change and every probe interval; a condition is written only when it would change.
 */
export class ReadinessGates {
  readonly #options: ReadinessGatesOptions
  #pods = new Map<string, V1Pod>()
  /** Whether each group was ready at the last check, for the GroupFormed and GroupBroken Events. */
  #ready = new Map<string, boolean>()
  #wake: () => void = () => {}

  constructor(options: ReadinessGatesOptions) {
    this.#options = options
  }

  /** Each group's verdict at the last check. */
  readonly verdicts = new Map<string, Verdict>()

  /** Runs until the leadership ends. */
  async run(leadership: Leadership): Promise<void> {
    const { kubeConfig, core, namespace, podSelector, relistIntervalMs, log } = this.#options
    const { signal } = leadership
    this.#ready.clear()
    this.verdicts.clear()
    const watching = listAndWatch<V1Pod>({
      kubeConfig,
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () => core.listNamespacedPod({ namespace, labelSelector: podSelector }),
      labelSelector: podSelector,
      relistIntervalMs,
      log,
      signal,
      onChange: (pods) => {
        this.#pods = new Map(pods)
        this.#wake()
      },
    })
    while (!signal.aborted) {
      const changed = new Promise<void>((resolve) => (this.#wake = resolve))
      await this.#check(signal).catch((error: unknown) => log.warn({ err: error }, 'checking the groups failed'))
      await Promise.race([changed, sleep(this.#options.probeIntervalMs, undefined, { signal }).catch(() => {})])
    }
    await watching
  }

  async #check(signal: AbortSignal): Promise<void> {
    const { metrics } = this.#options
    const groups = groupsOf(this.#pods.values())
    for (const name of this.verdicts.keys()) if (!groups.has(name)) this.verdicts.delete(name)
    await Promise.all([...groups].map(([name, ranks]) => this.#checkGroup(name, ranks, signal)))
    const ready = [...this.verdicts.values()].filter((v) => v.ready).length
    metrics.groups.set({ ready: 'true' }, ready)
    metrics.groups.set({ ready: 'false' }, this.verdicts.size - ready)
  }

  async #checkGroup(name: string, ranks: Map<number, V1Pod>, signal: AbortSignal): Promise<void> {
    const { events, log } = this.#options
    const leader = ranks.get(0)
    const probe: ProbeResult | undefined = leader
      ? await this.#options
          .probe(leader, signal)
          .then((status): ProbeResult => ({ ok: true, status }))
          .catch((error: unknown): ProbeResult => ({ ok: false, error: (error as Error).message }))
      : undefined
    if (signal.aborted) return
    const verdict = verdictOf(ranks, probe)
    this.verdicts.set(name, verdict)
    // A new leader takes the last state from the pods, so it does not report a group formed twice.
    // Only a condition a coordinator wrote counts: kwok's pod-ready stage sets every readiness gate True.
    const wasReady =
      this.#ready.get(name) ??
      [...ranks.values()].every(
        (pod) => conditionOf(pod)?.status === 'True' && conditionOf(pod)?.reason === readyReason,
      )
    this.#ready.set(name, verdict.ready)

    await Promise.all([...ranks.values()].map((pod) => this.#setCondition(pod, verdict, signal)))
    const about = leader ?? [...ranks.values()][0]!
    const ref = { apiVersion: 'v1', kind: 'Pod', name: about.metadata?.name, uid: about.metadata?.uid }
    if (verdict.ready && !wasReady) {
      log.info({ group: name, message: verdict.message }, 'group formed')
      await events.record(ref, 'Normal', EventReasons.groupFormed, `${name}: ${verdict.message}`)
    } else if (!verdict.ready && wasReady) {
      log.info({ group: name, reason: verdict.reason, message: verdict.message }, 'group broken')
      await events.record(ref, 'Warning', EventReasons.groupBroken, `${name}: ${verdict.reason}: ${verdict.message}`)
    }
  }

  async #setCondition(pod: V1Pod, verdict: Verdict, signal: AbortSignal): Promise<void> {
    const { core, namespace, metrics, log } = this.#options
    if (conditionMatches(pod, verdict) || signal.aborted) return
    const status = verdict.ready ? 'True' : 'False'
    const name = pod.metadata!.name!
    const current = conditionOf(pod)
    const condition = {
      type: GROUP_READY_CONDITION,
      status,
      reason: verdict.reason,
      message: verdict.message,
      lastTransitionTime:
        current?.status === status ? (current as { lastTransitionTime?: Date }).lastTransitionTime : new Date(),
    }
    try {
      // A strategic merge patch merges conditions by type: the kubelet's own stay as they are.
      const patched = await core.patchNamespacedPodStatus(
        { name, namespace, body: { status: { conditions: [condition] } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      )
      metrics.conditionUpdates.inc({ status })
      // Seen at once, so the next check does not write it again before the watch catches up.
      if (this.#pods.get(name)?.metadata?.uid === patched.metadata?.uid) this.#pods.set(name, patched)
      log.info({ pod: name, condition: GROUP_READY_CONDITION, status, reason: verdict.reason }, 'condition set')
    } catch (error) {
      log.warn({ err: error, pod: name }, `setting ${GROUP_READY_CONDITION} failed; retried on the next check`)
    }
  }
}
