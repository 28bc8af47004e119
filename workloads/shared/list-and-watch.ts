import { setTimeout as sleep } from 'node:timers/promises'
import { Watch } from '@kubernetes/client-node'
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node'

export interface WatchLog {
  warn(details: object, message: string): void
  debug(details: object, message: string): void
}

export interface ListWatchOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig
  /** The collection's path, e.g. `/api/v1/namespaces/lab/pods`. */
  path: string
  /** Lists the collection with the same selectors as the watch. */
  list(): Promise<KubernetesListObject<T>>
  labelSelector?: string
  /** `metadata.name=NAME` watches one object, which RBAC can grant by resourceNames. */
  fieldSelector?: string
  relistIntervalMs: number
  log: WatchLog
  /** Ends the loop. */
  signal: AbortSignal
  /** Called with every object known, keyed by `keyOf`, after each list and each change. */
  onChange(objects: Map<string, T>): void
  /** The key of an object in the map; its name by default (use `namespace/name` across namespaces). */
  keyOf?(object: KubernetesObject): string
}

const byName = (object: KubernetesObject) => object.metadata?.name ?? ''

/** The least time between two lists, however soon a watch ends. */
const minWatchMs = 1000

/**
 * A list then a watch from the list's resourceVersion, in a loop: whenever a watch ends (the API
 * server's timeout, 410 Gone, an error, or the relist interval) the collection is listed again
 * and replaces what was known, so a missed deletion is repaired. A failed list keeps what was
 * known and is retried with a capped backoff. Resolves once `signal` is aborted.
 *
 * Written as a loop rather than with client-node's informer: its ListWatch relists only after
 * a 410 and stops on any other watch error, while here every watch ends in a full relist.
 */
export async function listAndWatch<T extends KubernetesObject>(options: ListWatchOptions<T>): Promise<void> {
  const { signal, log, path } = options
  const watch = new Watch(options.kubeConfig)
  let failures = 0
  while (!signal.aborted) {
    try {
      const list = await options.list()
      const keyOf = options.keyOf ?? byName
      const objects = new Map(list.items.map((item) => [keyOf(item), item]))
      options.onChange(objects)
      failures = 0
      const watched = Date.now()
      const ended = await watchFrom(watch, options, list.metadata?.resourceVersion ?? '', objects)
      log.debug({ path, reason: ended }, 'watch ended, listing again')
      const pauseMs = minWatchMs - (Date.now() - watched)
      if (pauseMs > 0) await sleep(pauseMs, undefined, { signal }).catch(() => {})
    } catch (error) {
      if (signal.aborted) break
      const backoffMs = Math.min(30_000, 500 * 2 ** failures++)
      log.warn({ err: error, backoffMs, path }, 'listing or watching failed; keeping what was known')
      await sleep(backoffMs, undefined, { signal }).catch(() => {})
    }
  }
}

interface WatchObject extends KubernetesObject {
  code?: number
  message?: string
}

/** Watches until the watch ends; resolves with why, rejects on an error. */
async function watchFrom<T extends KubernetesObject>(
  watch: Watch,
  options: ListWatchOptions<T>,
  resourceVersion: string,
  objects: Map<string, T>,
): Promise<string> {
  const { signal, relistIntervalMs } = options
  if (signal.aborted) return 'stopped'
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
  signal.addEventListener('abort', onStop)
  try {
    controller = await watch.watch(
      options.path,
      {
        ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
        ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
        resourceVersion,
        allowWatchBookmarks: true,
        // The API server ends the watch a little after this loop would, as a backstop.
        timeoutSeconds: Math.ceil(relistIntervalMs / 1000) + 5,
      },
      (type: string, object: WatchObject) => {
        if (ending) return
        if (type === 'ERROR') {
          end(
            object.code === 410
              ? 'resourceVersion expired (410 Gone)'
              : `watch error: ${object.message ?? object.code}`,
          )
          return
        }
        const key = (options.keyOf ?? byName)(object)
        if (type === 'ADDED' || type === 'MODIFIED') objects.set(key, object as T)
        else if (type === 'DELETED') objects.delete(key)
        else return // BOOKMARK: only a newer resourceVersion
        options.onChange(objects)
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
    signal.removeEventListener('abort', onStop)
  }
}
