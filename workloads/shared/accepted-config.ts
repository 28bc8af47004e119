// How a model server or router follows the accepted serving configuration: one ConfigMap, read
// through the API by name, each new generation applied live and reported on GET /config.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import type { V1ConfigMap } from '@kubernetes/client-node'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { FENCING_ANNOTATION } from './fencing.ts'
import { listAndWatch } from './list-and-watch.ts'
import type { AcceptedVersion, Applied, LiveConfig } from './live-config.ts'

/** Increases by one with each accepted version; what model servers and routers report they run. */
export const GENERATION_ANNOTATION = 'serving-lab.io/generation'

const count = (raw: string | undefined) => (raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : null)

/** The version a ConfigMap holds; null without a generation (the empty ConfigMap the manifests create). */
export function versionOf(map: V1ConfigMap): AcceptedVersion | null {
  const annotations = map.metadata?.annotations ?? {}
  const generation = count(annotations[GENERATION_ANNOTATION])
  if (generation === null || generation === 0) return null
  return { generation, fencingToken: count(annotations[FENCING_ANNOTATION]) ?? 0, data: map.data ?? {} }
}

export interface FollowOptions<Config extends object> {
  /** The ConfigMap's name and namespace. */
  name: string
  namespace: string
  live: LiveConfig<Config>
  log: FastifyBaseLogger
  /** Called after a version changed some fields, for the parts that must act on them. */
  onChange?(changed: (keyof Config & string)[]): void
  relistIntervalMs?: number
}

/**
 * Lists then watches the one ConfigMap (`fieldSelector=metadata.name=NAME`, so RBAC can grant
 * get, list and watch by resourceNames) through the pod's service account, or the default
 * kubeconfig outside a pod. Made before the app listens (it stops when the app closes); the
 * returned function starts it.
 */
export function acceptedConfigFollower<Config extends object>(
  app: FastifyInstance,
  options: FollowOptions<Config>,
): () => void {
  const stop = new AbortController()
  let loop = Promise.resolve()
  app.addHook('onClose', async () => {
    stop.abort()
    await loop
  })
  return () => {
    options.log.info({ configMap: options.name, namespace: options.namespace }, 'following the accepted configuration')
    loop = follow(options, stop.signal)
  }
}

function follow<Config extends object>(options: FollowOptions<Config>, signal: AbortSignal): Promise<void> {
  const { name, namespace, live, log } = options
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromDefault()
  const core = kubeConfig.makeApiClient(CoreV1Api)
  const fieldSelector = `metadata.name=${name}`
  return listAndWatch<V1ConfigMap>({
    kubeConfig,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: () => core.listNamespacedConfigMap({ namespace, fieldSelector }),
    fieldSelector,
    relistIntervalMs: options.relistIntervalMs ?? 60_000,
    log,
    signal,
    onChange: (maps) => {
      // A deleted ConfigMap changes nothing: the version running stays.
      const map = maps.get(name)
      const version = map && versionOf(map)
      if (!version) return
      const result = live.apply(version)
      if (!result) return
      logApplied(log, name, result)
      if (result.changed.length > 0) options.onChange?.(result.changed)
    },
  })
}

function logApplied<Config>(log: FastifyBaseLogger, name: string, { report, changed }: Applied<Config>): void {
  for (const [key, reason] of Object.entries(report.rejected)) {
    log.warn({ configMap: name, generation: report.generation, key, reason }, `config key ${key} rejected: ${reason}`)
  }
  log.info(
    {
      configMap: name,
      generation: report.generation,
      fencingToken: report.fencingToken,
      applied: report.applied,
      changed,
    },
    `config generation ${report.generation} applied`,
  )
}
