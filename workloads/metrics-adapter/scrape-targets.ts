import { DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node'
import { backendsFromSlices } from '../router/discovery/endpoint-slices.ts'

/**
 * The `host:port` of every ready endpoint in the EndpointSlices that `labelSelector` selects in
 * `namespace`, on the port named `portName` (digits: that port number). A query selects the slices
 * of one or more Services, e.g. `kubernetes.io/service-name in (frontend,llama)`: the pods the
 * Services route to are the pods whose metrics count, and a terminating pod, which gets no new
 * requests, no longer counts.
 */
export async function scrapeTargets(
  kubeConfig: KubeConfig,
  namespace: string,
  labelSelector: string,
  portName: string,
): Promise<string[]> {
  const api = kubeConfig.makeApiClient(DiscoveryV1Api)
  const { items } = await api.listNamespacedEndpointSlice({ namespace, labelSelector })
  return backendsFromSlices(items, portName)
    .filter((backend) => backend.ready)
    .map((backend) => backend.address)
}
