import type { DiscoveredBackend } from './discovery.ts'

/**
 * The parts of a discovery.k8s.io/v1 EndpointSlice the router reads, whether it came typed from
 * a list call or as plain JSON from a watch (the field names are the same).
 */
export interface EndpointSliceLike {
  addressType?: string
  ports?: { name?: string | null; port?: number | null }[] | null
  endpoints?:
    | {
        addresses: string[]
        conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null } | null
      }[]
    | null
}

/**
 * The backends in all of a Service's EndpointSlices, on the target port: by name (the Service
 * port's name, `""` for an unnamed one) or, given digits, by number. An endpoint that may not
 * take requests (`takesRequests`) is listed but not ready. An address in several slices, which
 * happens while the controller moves endpoints between slices, is one backend, ready if any slice
 * says so. A slice without the port contributes nothing.
 */
export function backendsFromSlices(slices: Iterable<EndpointSliceLike>, targetPort: string): DiscoveredBackend[] {
  const byAddress = new Map<string, boolean>()
  for (const slice of slices) {
    const port = portOf(slice, targetPort)
    if (port === null) continue
    for (const endpoint of slice.endpoints ?? []) {
      const host = endpoint.addresses[0] // the API: consumers use the first address
      if (!host) continue
      const address = slice.addressType === 'IPv6' ? `[${host}]:${port}` : `${host}:${port}`
      const ready = takesRequests(endpoint.conditions ?? {})
      byAddress.set(address, ready || (byAddress.get(address) ?? false))
    }
  }
  return [...byAddress].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([address, ready]) => ({ address, ready }))
}

/**
 * Whether an endpoint may get new requests: serving and not terminating. The EndpointSlice
 * controller writes `serving` = the pod is Ready, `terminating` = the pod is being deleted, and
 * `ready` = publishNotReadyAddresses || (serving && !terminating). So `ready` alone is not enough:
 * behind a Service with publishNotReadyAddresses (the headless Services of the model servers'
 * groups) every endpoint is `ready`, a deleted or failing pod included. `serving` unset (a
 * controller older than 1.20, or slices written by hand) falls back to `ready`; unset `ready`
 * means ready and unset `terminating` means not terminating, as the API defines them.
 * (kube-proxy falls back to terminating endpoints that are still serving when none is ready; the
 * router does not, so a draining pod gets no new requests.)
 */
export function takesRequests(conditions: {
  ready?: boolean | null
  serving?: boolean | null
  terminating?: boolean | null
}): boolean {
  const serving = conditions.serving ?? conditions.ready ?? true
  return serving && conditions.terminating !== true
}

function portOf(slice: EndpointSliceLike, targetPort: string): number | null {
  const ports = slice.ports ?? []
  if (/^\d+$/.test(targetPort)) {
    const number = Number(targetPort)
    // A port without a number means "all ports" in an EndpointSlice.
    return ports.some((p) => p.port === number || p.port == null) ? number : null
  }
  const named = ports.find((p) => (p.name ?? '') === targetPort)
  return named?.port ?? null
}
