// The router's EndpointSlice discovery against a real API server (the shared kwok cluster):
// slices made by hand for a Service without a selector, so no controller touches them, and the
// discovery running in this process, list then watch.
import { DiscoveryV1Api } from '@kubernetes/client-node'
import type { KubernetesObject } from '@kubernetes/client-node'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { apply, connect } from '../../scripts/lib/kube.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'
import type { DiscoveredBackend } from '../../workloads/router/discovery/discovery.ts'
import { EndpointSliceDiscovery } from '../../workloads/router/discovery/endpoint-slice-discovery.ts'
import { waitFor } from './model-server-helpers.ts'

const kube = connect(inject('kubeContext'))
const slicesApi = kube.config.makeApiClient(DiscoveryV1Api)
const namespace = 'router-discovery'
const service = 'llama'
const quiet = () => {}
/** How soon a change must show (it usually takes tens of milliseconds); polled, never timed more finely. */
const withinMs = 1000

type Conditions = { ready?: boolean; serving?: boolean; terminating?: boolean }
const endpoint = (ip: string, conditions: Conditions = { ready: true }) => ({ addresses: [ip], conditions })

function slice(name: string, endpoints: ReturnType<typeof endpoint>[], forService = service): KubernetesObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace,
      labels: {
        'kubernetes.io/service-name': forService,
        // Anything but the EndpointSlice controller's own name, so it leaves the slice alone.
        'endpointslice.kubernetes.io/managed-by': 'serving-lab-tests',
      },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
    endpoints,
  } as KubernetesObject
}

const warnings: string[] = []
const watchEnds: string[] = []
const log = {
  warn: (_details: object, message: string) => void warnings.push(message),
  debug: (details: object) => void watchEnds.push((details as { reason: string }).reason),
}
let discovery: EndpointSliceDiscovery | undefined
let latest: DiscoveredBackend[] | undefined
let changes = 0

function startDiscovery(relistIntervalMs?: number) {
  discovery = new EndpointSliceDiscovery({
    kubeConfig: kube.config,
    namespace,
    service,
    targetPort: 'http',
    log,
    relistIntervalMs,
  })
  discovery.start((backends) => {
    latest = backends
    changes++
  })
}

/** Polls until the discovered set is exactly `expected`, for at most `withinMs`. */
const becomes = (what: string, expected: [string, boolean][]) =>
  waitFor(
    what,
    async () => JSON.stringify(latest?.map((b) => [b.address, b.ready])) === JSON.stringify(expected),
    withinMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; saw ${JSON.stringify(latest?.map((b) => [b.address, b.ready]))}`)
  })

beforeAll(async () => {
  await deleteNamespaces(kube, [namespace], quiet)
  await apply(kube, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as KubernetesObject,
    // No selector: the EndpointSlice controller makes no slices for it.
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service, namespace },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 8000 }] },
    } as KubernetesObject,
  ])
})
afterEach(async () => {
  await discovery?.stop()
  discovery = undefined
  latest = undefined
})
afterAll(() => deleteNamespaces(kube, [namespace], quiet))

describe('EndpointSlice discovery on a real API server', () => {
  it('lists the slices at the start, then follows additions, not-ready, terminating and deleted endpoints', async () => {
    await apply(kube, [
      slice('llama-a', [endpoint('10.1.0.1'), endpoint('10.1.0.2')]),
      slice('llama-b', [endpoint('10.1.0.3')]),
    ])
    startDiscovery()
    await becomes('the listed slices', [
      ['10.1.0.1:8000', true],
      ['10.1.0.2:8000', true],
      ['10.1.0.3:8000', true],
    ])

    await apply(kube, [slice('llama-b', [endpoint('10.1.0.3'), endpoint('10.1.0.4')])])
    await becomes('the added endpoint', [
      ['10.1.0.1:8000', true],
      ['10.1.0.2:8000', true],
      ['10.1.0.3:8000', true],
      ['10.1.0.4:8000', true],
    ])

    await apply(kube, [
      slice('llama-a', [endpoint('10.1.0.1', { ready: false, serving: false }), endpoint('10.1.0.2')]),
    ])
    await becomes('the endpoint that is not ready', [
      ['10.1.0.1:8000', false],
      ['10.1.0.2:8000', true],
      ['10.1.0.3:8000', true],
      ['10.1.0.4:8000', true],
    ])

    await apply(kube, [
      slice('llama-a', [
        endpoint('10.1.0.1', { ready: false, serving: false }),
        endpoint('10.1.0.2', { ready: false, serving: true, terminating: true }),
      ]),
    ])
    await becomes('the terminating endpoint', [
      ['10.1.0.1:8000', false],
      ['10.1.0.2:8000', false],
      ['10.1.0.3:8000', true],
      ['10.1.0.4:8000', true],
    ])

    await apply(kube, [slice('llama-b', [endpoint('10.1.0.4')])])
    await becomes('the endpoint removed from its slice', [
      ['10.1.0.1:8000', false],
      ['10.1.0.2:8000', false],
      ['10.1.0.4:8000', true],
    ])

    await slicesApi.deleteNamespacedEndpointSlice({ name: 'llama-a', namespace })
    await becomes('the deleted slice', [['10.1.0.4:8000', true]])
    expect(warnings).toEqual([])
  })

  it('ignores the slices of other Services', async () => {
    await apply(kube, [slice('mistral-a', [endpoint('10.2.0.1')], 'mistral')])
    startDiscovery()
    await becomes('only this Service’s endpoints', [['10.1.0.4:8000', true]])
    await apply(kube, [slice('mistral-a', [endpoint('10.2.0.1'), endpoint('10.2.0.2')], 'mistral')])
    await apply(kube, [slice('llama-b', [endpoint('10.1.0.5')])])
    await becomes('this Service’s change, and no other', [['10.1.0.5:8000', true]])
  })

  it('lists again after each relist interval, keeping the same set without reporting a change', async () => {
    startDiscovery(1000)
    await becomes('the current set', [['10.1.0.5:8000', true]])
    const before = changes
    watchEnds.length = 0
    // About three relists: the watch ends, the list repeats, and nothing is reported as changed.
    await new Promise((resolve) => setTimeout(resolve, 3500))
    expect(watchEnds.filter((reason) => reason === 'relist interval').length).toBeGreaterThanOrEqual(2)
    expect(changes).toBe(before)
    await apply(kube, [slice('llama-c', [endpoint('10.1.0.6')])])
    await becomes('a slice added after several relists', [
      ['10.1.0.5:8000', true],
      ['10.1.0.6:8000', true],
    ])
    expect(warnings).toEqual([])
  })

  it('stops promptly, watching no more', async () => {
    startDiscovery()
    await becomes('the current set', [
      ['10.1.0.5:8000', true],
      ['10.1.0.6:8000', true],
    ])
    await discovery!.stop()
    const seen = latest
    await apply(kube, [slice('llama-c', [endpoint('10.1.0.7')])])
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(latest).toBe(seen)
  })
})
