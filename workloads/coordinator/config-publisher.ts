import type { CoreV1Api, KubeConfig, V1ConfigMap, V1ObjectReference } from '@kubernetes/client-node'
import { configMapAccess, FENCING_ANNOTATION, fencedUpdate, FencedWriteError } from '../shared/fencing.ts'
import type { Leadership } from '../shared/leader-election.ts'
import { EventReasons, type EventRecorder } from './events.ts'
import type { CoordinatorMetrics } from './metrics.ts'
import { sameServingData, validateServingConfig, type ServingData } from './serving-config.ts'
import { listAndWatch, type WatchLog } from '../shared/list-and-watch.ts'
import { GENERATION_ANNOTATION } from '../shared/accepted-config.ts'

export { GENERATION_ANNOTATION }
/** The desired ConfigMap's resourceVersion the accepted version was taken from. */
export const SOURCE_ANNOTATION = 'serving-lab.io/desired-resource-version'

export interface PublisherLog extends WatchLog {
  info(details: object, message: string): void
}

export interface ConfigPublisherOptions {
  kubeConfig: KubeConfig
  core: CoreV1Api
  namespace: string
  desired: string
  accepted: string
  relistIntervalMs: number
  events: EventRecorder
  metrics: CoordinatorMetrics
  log: PublisherLog
  /** How long after a failed publication it is tried again. */
  retryMs?: number
}

export function generationOf(map: V1ConfigMap | undefined): number {
  const raw = map?.metadata?.annotations?.[GENERATION_ANNOTATION]
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : 0
}

const refOf = (map: V1ConfigMap): V1ObjectReference => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  name: map.metadata?.name,
  uid: map.metadata?.uid,
  resourceVersion: map.metadata?.resourceVersion,
})

/**
 * While this replica leads: watches the desired ConfigMap, validates each version, and publishes
 * a valid one to the accepted ConfigMap with the next generation and the leader's fencing token.
 * An invalid version is refused with a Warning Event and a log line, and the accepted one stays.
 * A version whose data is already the accepted one publishes nothing: no new generation.
 */
export class ConfigPublisher {
  readonly #options: ConfigPublisherOptions
  /** The desired resourceVersion last handled, so a relist does not repeat an Event. */
  #handled = ''
  #latest: V1ConfigMap | undefined
  #busy = false

  constructor(options: ConfigPublisherOptions) {
    this.#options = options
  }

  /** Runs until the leadership ends. */
  async run(leadership: Leadership): Promise<void> {
    const { kubeConfig, core, namespace, desired, relistIntervalMs, log } = this.#options
    this.#handled = ''
    const fieldSelector = `metadata.name=${desired}`
    await listAndWatch<V1ConfigMap>({
      kubeConfig,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      list: () => core.listNamespacedConfigMap({ namespace, fieldSelector }),
      fieldSelector,
      relistIntervalMs,
      log,
      signal: leadership.signal,
      onChange: (maps) => {
        const map = maps.get(desired)
        if (!map) {
          if (this.#latest) log.warn({ configMap: desired }, 'the desired ConfigMap is gone; the accepted one stays')
          this.#latest = undefined
          return
        }
        this.#latest = map
        void this.#drain(leadership)
      },
    })
  }

  /** Handles the latest version seen, one at a time, until none is left unhandled. */
  async #drain(leadership: Leadership): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      while (!leadership.signal.aborted) {
        const map = this.#latest
        const version = map?.metadata?.resourceVersion ?? ''
        if (!map || version === this.#handled) return
        if (await this.#handle(map, leadership.token)) {
          this.#handled = version
          continue
        }
        // The write failed: try again after a pause, with whatever version is latest by then.
        await new Promise((resolve) => setTimeout(resolve, this.#options.retryMs ?? 1000))
      }
    } finally {
      this.#busy = false
    }
  }

  /** True once the version is dealt with (refused, unchanged or published). */
  async #handle(map: V1ConfigMap, token: number): Promise<boolean> {
    const { events, metrics, log, accepted } = this.#options
    const validation = validateServingConfig(map.data ?? {})
    if (!validation.valid) {
      metrics.configRejections.inc()
      const current = await this.#readAccepted().catch(() => undefined)
      log.warn(
        { configMap: map.metadata?.name, resourceVersion: map.metadata?.resourceVersion, errors: validation.errors },
        'desired serving configuration refused; the accepted one stays',
      )
      await events.record(
        refOf(map),
        'Warning',
        EventReasons.configRejected,
        `refused, ${accepted} stays at generation ${generationOf(current)}: ${validation.errors.join('; ')}`,
      )
      return true
    }
    try {
      return await this.#publish(map, validation.data, token)
    } catch (error) {
      if (error instanceof FencedWriteError) {
        log.warn({ err: error, token }, 'a newer leader wrote the accepted ConfigMap; not overwriting it')
        return true
      }
      log.warn({ err: error, configMap: accepted }, 'publishing the accepted serving configuration failed; retrying')
      return false
    }
  }

  async #publish(map: V1ConfigMap, data: ServingData, token: number): Promise<boolean> {
    const { core, namespace, accepted, events, metrics, log } = this.#options
    const source = map.metadata?.resourceVersion ?? ''
    const current = await this.#readAccepted()
    if (current && sameServingData(current.data ?? {}, data)) {
      metrics.configGeneration.set(generationOf(current))
      log.debug({ generation: generationOf(current) }, 'desired serving configuration unchanged; no new generation')
      return true
    }
    let written: V1ConfigMap
    if (!current) {
      // Created here only when the step's manifests did not: creating needs a wider RBAC grant.
      written = await core.createNamespacedConfigMap({
        namespace,
        body: {
          metadata: {
            name: accepted,
            annotations: {
              [GENERATION_ANNOTATION]: '1',
              [FENCING_ANNOTATION]: String(token),
              [SOURCE_ANNOTATION]: source,
            },
          },
          data,
        },
      })
    } else {
      written = await fencedUpdate(configMapAccess(core, namespace, accepted), token, (object) => ({
        ...object,
        metadata: {
          ...object.metadata,
          annotations: {
            ...object.metadata?.annotations,
            [GENERATION_ANNOTATION]: String(generationOf(object) + 1),
            [SOURCE_ANNOTATION]: source,
          },
        },
        data,
      }))
    }
    const generation = generationOf(written)
    metrics.configGeneration.set(generation)
    log.info({ configMap: accepted, generation, token, data }, 'serving configuration accepted')
    const settings = Object.entries(data).map(([key, value]) => `${key}=${value}`)
    await events.record(
      refOf(map),
      'Normal',
      EventReasons.configAccepted,
      `published to ${accepted} as generation ${generation} with fencing token ${token}: ${settings.join(', ') || 'no keys (every default)'}`,
    )
    return true
  }

  async #readAccepted(): Promise<V1ConfigMap | undefined> {
    const { core, namespace, accepted } = this.#options
    try {
      return await core.readNamespacedConfigMap({ name: accepted, namespace })
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined
      throw error
    }
  }
}
