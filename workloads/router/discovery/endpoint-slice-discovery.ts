import { setTimeout as sleep } from 'node:timers/promises'
import { DiscoveryV1Api, Watch } from '@kubernetes/client-node'
import type { KubeConfig } from '@kubernetes/client-node'
import type { DiscoveredBackend, Discovery } from './discovery.ts'
import { backendsFromSlices } from './endpoint-slices.ts'
import type { EndpointSliceLike } from './endpoint-slices.ts'

/** What the discovery logs through (the router's logger in the program). */
export interface DiscoveryLog {
  warn(details: object, message: string): void
  debug(details: object, message: string): void
}

export interface EndpointSliceDiscoveryOptions {
  kubeConfig: KubeConfig
  namespace: string
  service: string
  /** The port's name, or its number. */
  targetPort: string
  /** Each watch ends after this long and the slices are listed again, which repairs any missed event. */
  relistIntervalMs?: number
  log: DiscoveryLog
}

/** The least time between two lists, however soon a watch ends. */
const minWatchMs = 1000

interface WatchEvent {
  type: string
  object: EndpointSliceLike & {
    metadata?: { name?: string; resourceVersion?: string }
    code?: number
    message?: string
  }
}

/**
 * Backends from a Service's EndpointSlices (label `kubernetes.io/service-name`), kept current by
 * a list then a watch from the list's resourceVersion. Whenever a watch ends — the API server's
 * timeout, 410 Gone when the resourceVersion has expired, an error, or the relist interval — the
 * slices are listed again and replace what was known, so a deletion the router missed is
 * repaired. A failed list keeps the last known backends and is retried with a capped backoff.
 *
 * Written as a loop rather than with client-node's informer: its ListWatch relists only after
 * a 410 and stops on any other watch error, while here every watch ends in a full relist.
 */
export class EndpointSliceDiscovery implements Discovery {
  readonly #options: Required<EndpointSliceDiscoveryOptions>
  readonly #api: DiscoveryV1Api
  readonly #watch: Watch
  readonly #selector: string
  readonly #stop = new AbortController()
  #loop: Promise<void> = Promise.resolve()
  #slices = new Map<string, EndpointSliceLike>()
  #last = ''

  constructor(options: EndpointSliceDiscoveryOptions) {
    // `??`, not a spread default: an explicit `relistIntervalMs: undefined` must not end every watch at once.
    this.#options = { ...options, relistIntervalMs: options.relistIntervalMs ?? 30_000 }
    this.#api = options.kubeConfig.makeApiClient(DiscoveryV1Api)
    this.#watch = new Watch(options.kubeConfig)
    this.#selector = `kubernetes.io/service-name=${options.service}`
  }

  start(onChange: (backends: DiscoveredBackend[]) => void): void {
    this.#loop = this.#run(onChange)
  }

  async stop(): Promise<void> {
    this.#stop.abort()
    await this.#loop
  }

  async #run(onChange: (backends: DiscoveredBackend[]) => void): Promise<void> {
    const { namespace, log } = this.#options
    let failures = 0
    while (!this.#stop.signal.aborted) {
      try {
        const list = await this.#api.listNamespacedEndpointSlice({ namespace, labelSelector: this.#selector })
        this.#slices = new Map(list.items.map((slice) => [slice.metadata?.name ?? '', slice]))
        this.#publish(onChange)
        failures = 0
        const watched = Date.now()
        const ended = await this.#watchFrom(list.metadata?.resourceVersion ?? '', onChange)
        log.debug({ reason: ended }, 'endpointslice watch ended, listing again')
        // A watch that keeps ending at once must not turn into a tight loop of lists.
        const pauseMs = minWatchMs - (Date.now() - watched)
        if (pauseMs > 0) await sleep(pauseMs, undefined, { signal: this.#stop.signal }).catch(() => {})
      } catch (error) {
        if (this.#stop.signal.aborted) break
        const backoffMs = Math.min(30_000, 500 * 2 ** failures++)
        log.warn(
          { err: error, backoffMs, namespace, service: this.#options.service },
          'listing or watching EndpointSlices failed; keeping the last known backends',
        )
        await sleep(backoffMs, undefined, { signal: this.#stop.signal }).catch(() => {})
      }
    }
  }

  /** Watches until the watch ends; resolves with why, rejects on an error. */
  async #watchFrom(resourceVersion: string, onChange: (backends: DiscoveredBackend[]) => void): Promise<string> {
    const { namespace, relistIntervalMs } = this.#options
    if (this.#stop.signal.aborted) return 'stopped'
    const path = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`
    let controller: AbortController | undefined
    let ending: string | undefined
    let settle: (result: { reason: string } | { error: unknown }) => void = () => {}
    const settled = new Promise<{ reason: string } | { error: unknown }>((resolve) => (settle = resolve))
    const end = (reason: string) => {
      ending ??= reason
      controller?.abort()
      settle({ reason })
    }
    const timer = setTimeout(() => end('relist interval'), relistIntervalMs)
    const onStop = () => end('stopped')
    this.#stop.signal.addEventListener('abort', onStop)
    try {
      controller = await this.#watch.watch(
        path,
        {
          labelSelector: this.#selector,
          resourceVersion,
          allowWatchBookmarks: true,
          // The API server ends the watch a little after the router would, as a backstop.
          timeoutSeconds: Math.ceil(relistIntervalMs / 1000) + 5,
        },
        (type: string, object: WatchEvent['object']) => {
          if (ending) return
          if (type === 'ERROR') {
            // 410 Gone: the resourceVersion is too old to watch from; any error: start again.
            end(
              object.code === 410
                ? 'resourceVersion expired (410 Gone)'
                : `watch error: ${object.message ?? object.code}`,
            )
            return
          }
          const name = object.metadata?.name ?? ''
          if (type === 'ADDED' || type === 'MODIFIED') this.#slices.set(name, object)
          else if (type === 'DELETED') this.#slices.delete(name)
          else return // BOOKMARK: only a newer resourceVersion
          this.#publish(onChange)
        },
        (error: unknown) => {
          if (ending) settle({ reason: ending })
          else if (error && (error as { statusCode?: number }).statusCode === 410)
            end('resourceVersion expired (410 Gone)')
          else if (error) settle({ error })
          else end('the API server closed the watch')
        },
      )
      if (ending) controller.abort()
      const result = await settled
      if ('error' in result) throw result.error
      return result.reason
    } finally {
      clearTimeout(timer)
      this.#stop.signal.removeEventListener('abort', onStop)
    }
  }

  /** Calls onChange when the set of backends or their readiness changed. */
  #publish(onChange: (backends: DiscoveredBackend[]) => void): void {
    const backends = backendsFromSlices(this.#slices.values(), this.#options.targetPort)
    const key = JSON.stringify(backends)
    if (key === this.#last) return
    this.#last = key
    onChange(backends)
  }
}
