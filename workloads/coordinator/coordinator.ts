import { CoreV1Api } from '@kubernetes/client-node'
import type { KubeConfig } from '@kubernetes/client-node'
import { LeaderElector, type ElectionLog, type Leadership } from '../shared/leader-election.ts'
import type { CoordinatorConfig } from './config.ts'
import { ConfigPublisher } from './config-publisher.ts'
import { EventReasons, EventRecorder } from './events.ts'
import type { CoordinatorMetrics } from './metrics.ts'
import { httpGroupProbe, ReadinessGates, type GroupProbe } from './readiness-gates.ts'

export type CoordinatorSettings = Pick<
  CoordinatorConfig,
  | 'namespace'
  | 'identity'
  | 'leaseName'
  | 'leaseDurationMs'
  | 'renewDeadlineMs'
  | 'retryPeriodMs'
  | 'desiredConfigMap'
  | 'acceptedConfigMap'
  | 'podSelector'
  | 'groupPort'
  | 'probeIntervalMs'
  | 'probeTimeoutMs'
  | 'relistIntervalMs'
>

export interface CoordinatorLog extends ElectionLog {
  child(bindings: Record<string, unknown>): CoordinatorLog
}

export interface CoordinatorOptions {
  settings: CoordinatorSettings
  kubeConfig: KubeConfig
  metrics: CoordinatorMetrics
  log: CoordinatorLog
  /** How rank 0 of a group is asked `GET /group`; by default over HTTP at the pod's IP. */
  probe?: GroupProbe
}

/** What `/health` and `/ready` report. */
export interface CoordinatorStatus {
  identity: string
  role: 'leader' | 'standby'
  /** The holder of the Lease as last seen; null until one is. */
  leader: string | null
  /** The fencing token while leading; null otherwise. */
  token: number | null
}

/**
 * The coordinator: campaigns for the Lease and, only while it leads, shares the serving
 * configuration and sets the model servers' readiness gates. Losing the Lease stops that work
 * at once (the leadership's signal) and the replica campaigns again as a standby.
 */
export class Coordinator {
  readonly #options: CoordinatorOptions
  readonly #events: EventRecorder
  readonly #publisher: ConfigPublisher
  readonly readinessGates: ReadinessGates
  #elector: LeaderElector | undefined
  #leader: string | null = null
  #leadership: Leadership | undefined
  #stopped = false
  #running: Promise<void> = Promise.resolve()

  constructor(options: CoordinatorOptions) {
    this.#options = options
    const { settings, kubeConfig, metrics, log } = options
    const core = kubeConfig.makeApiClient(CoreV1Api)
    const common = {
      kubeConfig,
      core,
      namespace: settings.namespace,
      metrics,
      relistIntervalMs: settings.relistIntervalMs,
    }
    this.#events = new EventRecorder(core, settings.namespace, settings.identity, log.child({ component: 'events' }))
    this.#publisher = new ConfigPublisher({
      ...common,
      desired: settings.desiredConfigMap,
      accepted: settings.acceptedConfigMap,
      events: this.#events,
      log: log.child({ component: 'config' }),
    })
    this.readinessGates = new ReadinessGates({
      ...common,
      podSelector: settings.podSelector,
      probe: options.probe ?? httpGroupProbe(settings.groupPort, settings.probeTimeoutMs),
      probeIntervalMs: settings.probeIntervalMs,
      events: this.#events,
      log: log.child({ component: 'readiness' }),
    })
  }

  status(): CoordinatorStatus {
    const leading = this.#leadership !== undefined && !this.#leadership.signal.aborted
    return {
      identity: this.#options.settings.identity,
      role: leading ? 'leader' : 'standby',
      leader: this.#leader,
      token: leading ? this.#leadership!.token : null,
    }
  }

  /** Campaigns until stopped; after losing the Lease, campaigns again. */
  start(): void {
    this.#running = this.#campaign()
  }

  /** Stops leading, releases the Lease, and waits for the work done as leader to end. */
  async stop(): Promise<void> {
    this.#stopped = true
    await this.#elector?.stop()
    await this.#running
  }

  async #campaign(): Promise<void> {
    const { settings, kubeConfig, log } = this.#options
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
          onStartedLeading: (leadership) => {
            work.push(this.#lead(leadership))
          },
          onStoppedLeading: () => this.#options.metrics.isLeader.set(0),
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
    metrics.fencingToken.set(leadership.token)
    await this.#events.record(
      { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: settings.leaseName },
      'Normal',
      EventReasons.leaderElected,
      `${settings.identity} leads with fencing token ${leadership.token}`,
    )
    const run = (name: string, work: Promise<void>) =>
      work.catch((error: unknown) => log.warn({ err: error }, `${name} stopped with an error`))
    await Promise.all([
      run('configuration sharing', this.#publisher.run(leadership)),
      run('readiness gates', this.readinessGates.run(leadership)),
    ])
  }
}
