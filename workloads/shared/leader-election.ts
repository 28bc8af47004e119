/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics
 * (k8s.io/client-go/tools/leaderelection): lease duration, renew deadline and retry period
 * (defaults 15 s, 10 s, 2 s, validated so that duration > deadline > 1.2 × retry), acquire and
 * renew times, `leaseTransitions`, optimistic concurrency on `resourceVersion` (a 409 is a lost
 * race), release on a graceful stop, and started/stopped-leading callbacks.
 *
 * Time: like client-go, a candidate never compares the Lease's timestamps with its own clock. It
 * remembers when, by its own monotonic clock, it last saw the record change (holder, renewTime,
 * resourceVersion), and treats the Lease as held until the record's leaseDurationSeconds have
 * passed since then without a change. The leader stops acting as leader once renewDeadline has
 * passed since it sent its last successful renew (client-go counts from the start of the retry
 * cycle, a retry period later; this is stricter). Others saw that renew no earlier than it was
 * sent, and wait leaseDuration from their sighting, so the old leader stops at least
 * leaseDuration − renewDeadline (5 s by default) before anyone else can start. Clocks may be
 * offset by any amount; what must hold is their rate: a leader whose clock runs slower than a
 * candidate's by a factor k stops in time only while k < leaseDuration / renewDeadline (1.5 by
 * default), as client-go documents.
 *
 * Beyond client-go: a fencing token, the Lease's `leaseTransitions` once this elector holds it,
 * handed to onStartedLeading; see fencing.ts for the writes that carry and check it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { CoordinationV1Api, Observable, V1MicroTime } from '@kubernetes/client-node'
import type { KubeConfig, ObservableMiddleware, V1Lease } from '@kubernetes/client-node'
import { ConfigError } from './config.ts'

export interface LeaderElectionTimings {
  /** How long candidates wait, from their last sighting of a change, before taking the Lease. */
  leaseDurationMs: number
  /** How long the leader keeps acting after its last successful renew. */
  renewDeadlineMs: number
  /** The time between attempts to acquire or renew. */
  retryPeriodMs: number
}

export const defaultTimings: LeaderElectionTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
}

/** client-go's JitterFactor: candidates wait between 1 and 1 + 1.2 retry periods between attempts. */
export const jitterFactor = 1.2

/** Throws a ConfigError naming each field whose value breaks duration > deadline > 1.2 × retry. */
export function validateTimings(timings: LeaderElectionTimings): void {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = timings
  const errors: string[] = []
  for (const [field, value] of Object.entries(timings)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      errors.push(`${field} must be a positive number of milliseconds (got ${String(value)})`)
  }
  if (errors.length === 0) {
    if (leaseDurationMs % 1000 !== 0)
      errors.push(`leaseDurationMs must be whole seconds, as the Lease records it (got ${leaseDurationMs})`)
    if (!(leaseDurationMs > renewDeadlineMs))
      errors.push(
        `leaseDurationMs must be greater than renewDeadlineMs (got ${leaseDurationMs} and ${renewDeadlineMs})`,
      )
    if (!(renewDeadlineMs > jitterFactor * retryPeriodMs))
      errors.push(
        `renewDeadlineMs must be greater than ${jitterFactor} × retryPeriodMs (got ${renewDeadlineMs} and ${retryPeriodMs})`,
      )
  }
  if (errors.length > 0) throw new ConfigError(`leader election: ${errors.join('; ')}`)
}

/** The Lease fields the election reads, as plain values. */
export interface LeaseRecord {
  holderIdentity: string
  leaseDurationSeconds: number
  renewTime: string
  leaseTransitions: number
  resourceVersion: string
}

export function recordOf(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {}
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    // client-node reads a MicroTime back as the API server's text; a Date when it wrote it.
    renewTime: spec.renewTime instanceof Date ? spec.renewTime.toISOString() : String(spec.renewTime ?? ''),
    leaseTransitions: spec.leaseTransitions ?? 0,
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  }
}

/**
 * What a candidate last saw of the Lease and when, by its own clock: the only time the election
 * trusts. `now` is a monotonic reading in milliseconds.
 */
export class LeaseObservation {
  #key = ''
  #at = -Infinity
  #record: LeaseRecord | undefined

  constructor(readonly fallbackDurationMs: number) {}

  get record(): LeaseRecord | undefined {
    return this.#record
  }

  /** Records a sighting; the clock restarts only when holder, renewTime or resourceVersion changed. */
  observe(record: LeaseRecord, now: number): void {
    const key = JSON.stringify([record.holderIdentity, record.renewTime, record.resourceVersion])
    if (key === this.#key) return
    this.#key = key
    this.#at = now
    this.#record = record
  }

  /** True while another identity holds the Lease and it has not gone a lease duration without change. */
  heldByAnother(identity: string, now: number): boolean {
    const record = this.#record
    if (!record || record.holderIdentity === '' || record.holderIdentity === identity) return false
    const durationMs = record.leaseDurationSeconds > 0 ? record.leaseDurationSeconds * 1000 : this.fallbackDurationMs
    return now < this.#at + durationMs
  }
}

export interface Leadership {
  /** The fencing token: the Lease's leaseTransitions once this elector acquired it. */
  token: number
  /** Aborted the moment this elector stops leading: work done as leader must stop with it. */
  signal: AbortSignal
}

export interface LeaderCallbacks {
  onStartedLeading(leadership: Leadership): void | Promise<void>
  /** Always called once when the elector stops, whether or not it led (as in client-go). */
  onStoppedLeading(): void
  /** Called with each new holder the elector sees, itself included. */
  onNewLeader?(identity: string): void
}

/** What the elector logs through (a workload's pino logger). */
export interface ElectionLog {
  info(details: object, message: string): void
  warn(details: object, message: string): void
  debug(details: object, message: string): void
}

/** The Lease calls the elector makes; CoordinationV1Api by default. */
export type LeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>

export interface LeaderElectionOptions extends Partial<LeaderElectionTimings> {
  kubeConfig: KubeConfig
  namespace: string
  /** The Lease's name. */
  name: string
  /** Unique per process (the pod's name): two processes with one identity both believe they lead. */
  identity: string
  callbacks: LeaderCallbacks
  log: ElectionLog
  leases?: LeaseApi
}

const statusOf = (error: unknown) => (error as { code?: number } | null)?.code

/** Passes an AbortSignal to one API call. */
function withSignal(signal: AbortSignal) {
  const middleware: ObservableMiddleware = {
    pre(request) {
      request.setSignal(signal)
      return new Observable(Promise.resolve(request))
    },
    post: (response) => new Observable(Promise.resolve(response)),
  }
  return { middleware: [middleware], middlewareMergeStrategy: 'append' as const }
}

/**
 * Campaigns for the Lease until it leads, then leads until it loses the Lease or is stopped;
 * like client-go's Run, `run` returns then, and a caller that wants to campaign again runs a new
 * elector. Every API call is bounded by the renew deadline, so a server that stops answering
 * cannot hold the elector.
 */
export class LeaderElector {
  readonly #options: LeaderElectionOptions & LeaderElectionTimings
  readonly #leases: LeaseApi
  readonly #observation: LeaseObservation
  readonly #stop = new AbortController()
  #run: Promise<void> | undefined
  /** The Lease as this elector last wrote it, and when (monotonic) that write was sent. */
  #lease: V1Lease | undefined
  #writtenSentAt = 0
  #leading: AbortController | undefined
  #deadline: NodeJS.Timeout | undefined
  #reported = ''
  #stoppedCalled = false
  #token: number | undefined

  constructor(options: LeaderElectionOptions) {
    const timings = {
      leaseDurationMs: options.leaseDurationMs ?? defaultTimings.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs ?? defaultTimings.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs ?? defaultTimings.retryPeriodMs,
    }
    validateTimings(timings)
    if (!options.identity) throw new ConfigError('leader election: identity must not be empty')
    this.#options = { ...options, ...timings }
    this.#leases = options.leases ?? options.kubeConfig.makeApiClient(CoordinationV1Api)
    this.#observation = new LeaseObservation(timings.leaseDurationMs)
  }

  get isLeader(): boolean {
    return this.#leading !== undefined && !this.#leading.signal.aborted
  }

  /** The fencing token of the last time this elector led, if it did. */
  get token(): number | undefined {
    return this.#token
  }

  run(): Promise<void> {
    this.#run ??= this.#campaignAndLead()
    return this.#run
  }

  /** Graceful stop: stops leading, releases the Lease if it holds it, and waits for `run` to end. */
  async stop(): Promise<void> {
    this.#stop.abort()
    this.#stopLeading('stopping')
    await this.#run
    this.#callStopped()
  }

  async #campaignAndLead(): Promise<void> {
    try {
      const token = await this.#acquire()
      if (token !== undefined) await this.#lead(token)
    } finally {
      this.#callStopped()
    }
  }

  /** Tries every retry period (with client-go's jitter) until it holds the Lease; undefined if stopped first. */
  async #acquire(): Promise<number | undefined> {
    const { retryPeriodMs, log } = this.#options
    while (!this.#stop.signal.aborted) {
      const acquired = await this.#tryAcquireOrRenew(this.#stop.signal).catch((error: unknown) => {
        if (!this.#stop.signal.aborted)
          log.warn({ err: error, lease: this.#options.name }, 'acquiring the lease failed')
        return false
      })
      if (acquired) return this.#observation.record!.leaseTransitions
      const waitMs = retryPeriodMs * (1 + Math.random() * jitterFactor)
      await sleep(waitMs, undefined, { signal: this.#stop.signal }).catch(() => {})
    }
    return undefined
  }

  async #lead(token: number): Promise<void> {
    const { retryPeriodMs, identity, name, log, callbacks } = this.#options
    const leading = new AbortController()
    this.#leading = leading
    this.#token = token
    this.#armDeadline(this.#writtenSentAt)
    log.info({ lease: name, identity, token, renewTime: recordOf(this.#lease!).renewTime }, 'started leading')
    void Promise.resolve()
      .then(() => callbacks.onStartedLeading({ token, signal: leading.signal }))
      .catch((error: unknown) => log.warn({ err: error }, 'onStartedLeading failed'))

    while (!leading.signal.aborted) {
      await sleep(retryPeriodMs, undefined, { signal: leading.signal }).catch(() => {})
      if (leading.signal.aborted) break
      try {
        const renewed = await this.#tryAcquireOrRenew(leading.signal, true)
        if (leading.signal.aborted) break
        const holder = this.#observation.record?.holderIdentity
        if (renewed) {
          this.#armDeadline(this.#writtenSentAt)
          log.debug({ lease: name, renewTime: recordOf(this.#lease!).renewTime }, 'lease renewed')
        } else if (holder !== identity) {
          this.#stopLeading(`the lease is held by ${holder || 'nobody'}`)
        }
        // Else a lost race or a missing Lease: retried until the deadline decides.
      } catch (error) {
        if (!leading.signal.aborted) log.warn({ err: error, lease: name }, 'renewing the lease failed; retrying')
      }
    }
    if (this.#stop.signal.aborted) await this.#release()
  }

  /** Stops leading renewDeadline after `sentAt`, unless a later renew succeeds first. */
  #armDeadline(sentAt: number): void {
    clearTimeout(this.#deadline)
    const leftMs = sentAt + this.#options.renewDeadlineMs - performance.now()
    this.#deadline = setTimeout(() => this.#stopLeading('no renew succeeded within the renew deadline'), leftMs)
  }

  #stopLeading(reason: string): void {
    const leading = this.#leading
    if (!leading || leading.signal.aborted) return
    clearTimeout(this.#deadline)
    leading.abort(new Error(reason))
    this.#options.log.info({ lease: this.#options.name, token: this.#token, reason }, 'stopped leading')
    this.#callStopped()
  }

  #callStopped(): void {
    if (this.#stoppedCalled) return
    this.#stoppedCalled = true
    try {
      this.#options.callbacks.onStoppedLeading()
    } catch (error) {
      this.#options.log.warn({ err: error }, 'onStoppedLeading failed')
    }
  }

  /**
   * One attempt: read the Lease; create it if missing; take it if nobody holds it or its holder
   * has gone a lease duration without a change (by this elector's clock); renew it if held.
   * True when this elector holds it afterwards; a 409 (another writer came first) is false. A
   * leader that finds another holder has lost the Lease, whatever its age: it does not take it back.
   */
  async #tryAcquireOrRenew(signal: AbortSignal, renewing = false): Promise<boolean> {
    const { namespace, name, identity, renewDeadlineMs, leaseDurationMs } = this.#options
    const options = withSignal(AbortSignal.any([signal, AbortSignal.timeout(renewDeadlineMs)]))
    const sentAt = performance.now()
    const now = new V1MicroTime(Date.now())
    let current: V1Lease | undefined
    try {
      current = await this.#leases.readNamespacedLease({ name, namespace }, options)
    } catch (error) {
      if (statusOf(error) !== 404) throw error
    }
    // Observed once the answer is in: a renew that landed while the read was on its way is then not seen as older.
    if (current) this.#see(current)
    if (current && this.#observation.heldByAnother(identity, performance.now())) return false
    // A leader never creates the Lease again: a new Lease counts transitions from 0, and its token would go back.
    if (renewing && current?.spec?.holderIdentity !== identity) return false

    const previous = current ? recordOf(current) : undefined
    const holding = previous?.holderIdentity === identity
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: leaseDurationMs / 1000,
      acquireTime: holding ? current!.spec!.acquireTime : now,
      renewTime: now,
      leaseTransitions: !previous ? 0 : holding ? previous.leaseTransitions : previous.leaseTransitions + 1,
    }
    try {
      const written = current
        ? await this.#leases.replaceNamespacedLease(
            { name, namespace, body: { ...current, spec: { ...current.spec, ...spec } } },
            options,
          )
        : await this.#leases.createNamespacedLease({ namespace, body: { metadata: { name }, spec } }, options)
      this.#lease = written
      this.#writtenSentAt = sentAt
      this.#see(written)
      return true
    } catch (error) {
      if (statusOf(error) !== 409) throw error
      this.#options.log.debug({ lease: name, identity }, `lost the race to ${current ? 'update' : 'create'} the lease`)
      return false
    }
  }

  #see(lease: V1Lease): void {
    this.#observation.observe(recordOf(lease), performance.now())
    const holder = this.#observation.record!.holderIdentity
    if (holder === '' || holder === this.#reported) return
    this.#reported = holder
    this.#options.log.info({ lease: this.#options.name, leader: holder }, 'new leader observed')
    this.#options.callbacks.onNewLeader?.(holder)
  }

  /**
   * Clears the holder with the resourceVersion last written, so another candidate takes the Lease
   * on its next attempt instead of waiting a lease duration. A 409 means the Lease changed since:
   * it is no longer this elector's to release.
   */
  async #release(): Promise<void> {
    const { namespace, name, renewDeadlineMs, log } = this.#options
    const lease = this.#lease
    if (!lease) return
    const now = new V1MicroTime(Date.now())
    try {
      await this.#leases.replaceNamespacedLease(
        {
          name,
          namespace,
          body: {
            ...lease,
            spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
          },
        },
        withSignal(AbortSignal.timeout(renewDeadlineMs)),
      )
      log.info({ lease: name }, 'lease released')
    } catch (error) {
      log.warn({ err: error, lease: name }, 'releasing the lease failed; it expires instead')
    }
  }
}
