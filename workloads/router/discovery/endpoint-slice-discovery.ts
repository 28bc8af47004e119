import { DiscoveryV1Api } from '@kubernetes/client-node'
import type { KubeConfig, V1EndpointSlice } from '@kubernetes/client-node'
import { listAndWatch, type WatchLog } from '../../shared/list-and-watch.ts'
import type { DiscoveredBackend, Discovery } from './discovery.ts'
import { backendsFromSlices } from './endpoint-slices.ts'

export interface EndpointSliceDiscoveryOptions {
  kubeConfig: KubeConfig
  namespace: string
  service: string
  /** The port's name, or its number. */
  targetPort: string
  /** Each watch ends after this long and the slices are listed again, which repairs any missed event. */
  relistIntervalMs?: number
  log: WatchLog
}

/**
 * Backends from a Service's EndpointSlices (label `kubernetes.io/service-name`), kept current by
 * the shared list-then-watch loop: a deletion the router missed is repaired at the next list, and
 * a failed list keeps the last known backends.
 */
export class EndpointSliceDiscovery implements Discovery {
  readonly #options: EndpointSliceDiscoveryOptions
  readonly #stop = new AbortController()
  #loop: Promise<void> = Promise.resolve()
  #last = ''

  constructor(options: EndpointSliceDiscoveryOptions) {
    this.#options = options
  }

  start(onChange: (backends: DiscoveredBackend[]) => void): void {
    const { kubeConfig, namespace, service, targetPort, log } = this.#options
    const api = kubeConfig.makeApiClient(DiscoveryV1Api)
    const labelSelector = `kubernetes.io/service-name=${service}`
    this.#loop = listAndWatch<V1EndpointSlice>({
      kubeConfig,
      path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      list: () => api.listNamespacedEndpointSlice({ namespace, labelSelector }),
      labelSelector,
      // `??`, not a default parameter: an explicit `relistIntervalMs: undefined` must not end every watch at once.
      relistIntervalMs: this.#options.relistIntervalMs ?? 30_000,
      log,
      signal: this.#stop.signal,
      onChange: (slices) => {
        // Called after every list and change: only a different set of backends is news.
        const backends = backendsFromSlices(slices.values(), targetPort)
        const key = JSON.stringify(backends)
        if (key === this.#last) return
        this.#last = key
        onChange(backends)
      },
    })
  }

  async stop(): Promise<void> {
    this.#stop.abort()
    await this.#loop
  }
}
