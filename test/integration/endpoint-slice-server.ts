// A stand-in for the API server's EndpointSlice collection, for process tests that need
// discovery to change without a cluster: it answers the list and the watch that the workloads'
// EndpointSliceDiscovery makes (list, then watch from its resourceVersion), and the test sets
// the slices, which reach every open watch as MODIFIED, ADDED or DELETED events.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface SliceEndpoint {
  address: string
  conditions: { ready: boolean; serving: boolean; terminating: boolean }
}

/** The conditions the EndpointSlice controller writes for a pod: ready, or deleted (terminating). */
export const readyEndpoint = (address: string): SliceEndpoint => ({
  address,
  conditions: { ready: true, serving: true, terminating: false },
})
export const terminatingEndpoint = (address: string): SliceEndpoint => ({
  address,
  conditions: { ready: false, serving: true, terminating: true },
})

export interface EndpointSliceServer {
  /** A kubeconfig file that points at this server (for KUBECONFIG). */
  kubeconfig: string
  /** Replaces slice `name` (one port, its endpoints); null deletes it. */
  set(name: string, port: number, endpoints: SliceEndpoint[] | null): void
  /** Deletes every slice. */
  clear(): void
  close(): Promise<void>
}

export async function startEndpointSliceServer(namespace: string, service: string): Promise<EndpointSliceServer> {
  const slices = new Map<string, object>()
  const watchers = new Set<ServerResponse>()
  let resourceVersion = 1
  const collection = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    if (url.pathname !== collection) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404}')
      return
    }
    if (url.searchParams.get('watch') === 'true') {
      response.writeHead(200, { 'content-type': 'application/json' })
      watchers.add(response)
      response.on('close', () => watchers.delete(response))
      return
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSliceList',
        metadata: { resourceVersion: String(resourceVersion) },
        items: [...slices.values()],
      }),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port

  const directory = await mkdtemp(join(tmpdir(), 'endpoint-slices-'))
  const kubeconfig = join(directory, 'kubeconfig')
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'nobody', user: {} }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'nobody', namespace } }],
      'current-context': 'fake',
    }),
  )

  return {
    kubeconfig,
    set,
    clear() {
      for (const name of [...slices.keys()]) set(name, 0, null)
    },
    async close() {
      for (const watcher of watchers) watcher.end()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }

  function set(name: string, slicePort: number, endpoints: SliceEndpoint[] | null) {
    resourceVersion++
    const existed = slices.has(name)
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name,
        namespace,
        resourceVersion: String(resourceVersion),
        labels: { 'kubernetes.io/service-name': service },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: slicePort, protocol: 'TCP' }],
      endpoints: (endpoints ?? []).map((e) => ({ addresses: [e.address], conditions: e.conditions })),
    }
    if (endpoints === null) slices.delete(name)
    else slices.set(name, slice)
    const type = endpoints === null ? 'DELETED' : existed ? 'MODIFIED' : 'ADDED'
    for (const watcher of watchers) watcher.write(`${JSON.stringify({ type, object: slice })}\n`)
  }
}
