// The metrics adapter behind the real kube-apiserver's aggregator (the shared kwok cluster). The
// adapter runs in this process on a loopback port, with the certificate it makes and trusts
// through the APIService's caBundle as it does in a pod, and the aggregator reaches it through an ExternalName Service: kube-apiserver resolves an APIService's
// Service of that type to `<externalName>:<port>` (k8s.io/apiserver ResolveCluster), so no
// flag, no route and no root are needed. The value it serves is scraped from a real model server.
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:https'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiregistrationV1Api, AutoscalingV2Api, type KubernetesObject } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { makeServingCertificate } from '../../scripts/lib/build/certificates.ts'
import { apply, connect, getRaw, isNotFound } from '../../scripts/lib/kube.ts'
import { deleteNamespaces } from '../../scripts/lib/namespaces.ts'
import { freePort, type WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { createAdapter, type Adapter } from '../../workloads/metrics-adapter/adapter.ts'
import { defaults } from '../../workloads/metrics-adapter/config.ts'
import { provideServingCertificate } from '../../workloads/metrics-adapter/serving-certificate.ts'
import { model, startModelServer, waitFor } from './model-server-helpers.ts'

const kube = connect(inject('kubeContext'))
const apiServices = kube.config.makeApiClient(ApiregistrationV1Api)
const autoscalers = kube.config.makeApiClient(AutoscalingV2Api)
const namespace = 'metrics-adapter-test'
const API_SERVICE = 'v1beta1.external.metrics.k8s.io'
const base = '/apis/external.metrics.k8s.io/v1beta1'

const certificatePlace = {
  namespace,
  service: 'metrics-adapter',
  secret: 'metrics-adapter-tls',
  apiService: API_SERVICE,
}
let tls: { cert: string; key: string }
let adapter: Adapter
let adapterPort: number
let modelServer: WorkloadProcess
/** Model servers started by a test, killed at the end. */
const servers: WorkloadProcess[] = []
const inFlight: Promise<unknown>[] = []

/** The APIService, with a caBundle only when given one (the adapter sets its own). */
function apiService(ca?: string): KubernetesObject {
  return {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: API_SERVICE },
    spec: {
      group: 'external.metrics.k8s.io',
      version: 'v1beta1',
      service: { name: 'metrics-adapter', namespace, port: adapterPort },
      ...(ca ? { caBundle: Buffer.from(ca).toString('base64') } : {}),
      groupPriorityMinimum: 100,
      versionPriority: 100,
    },
  } as KubernetesObject
}

/** The body as JSON, or `{ message }` for the plain text the aggregator's proxy answers some failures with. */
function jsonOrText(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    return { message: text }
  }
}

/** A GET through the API server, as `kubectl get --raw` sends it: the status and the parsed body. */
async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const { status, text } = await getRaw(kube, path)
  return { status, body: jsonOrText(text) }
}

/** An IPv4 address of this machine other than loopback, which an EndpointSlice may hold. */
function machineAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address
  if (!address) throw new Error('this machine has no IPv4 address besides loopback for the EndpointSlice to name')
  return address
}

async function availability(): Promise<{ status?: string; message?: string }> {
  const current = await apiServices.readAPIService({ name: API_SERVICE })
  return current.status?.conditions?.find((c) => c.type === 'Available') ?? {}
}

beforeAll(async () => {
  adapterPort = await freePort()
  // One sequence at a time, each a few seconds long: the requests after the first wait. On this
  // machine's own address, as the API refuses loopback addresses in EndpointSlices.
  const address = machineAddress()
  modelServer = await startModelServer(
    ['--max-num-seqs', '1', '--inter-token-latency-ms', '100'],
    {},
    { host: address },
  )

  await deleteNamespaces(kube, [namespace], () => {})
  await apply(kube, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'metrics-adapter', namespace },
      spec: { type: 'ExternalName', externalName: 'localhost' },
    },
    // The model server as the EndpointSlice controller would list a pod of Service `llama`.
    ...modelServerService('llama', modelServer),
    apiService(),
  ] as KubernetesObject[])

  // The adapter makes its certificate, keeps it in a Secret and puts it in the APIService's caBundle.
  tls = await provideServingCertificate(kube.config, certificatePlace)
  adapter = createAdapter({ ...defaults, logLevel: 'silent', authorizationCacheMs: 0 }, kube.config, tls)
  await adapter.start()
  await adapter.app.listen({ port: adapterPort, host: '127.0.0.1' })
  await waitFor('the APIService to be Available', async () => (await availability()).status === 'True', 30_000)
})

afterAll(async () => {
  // An unavailable APIService left behind would fail discovery, and namespace deletion, cluster-wide.
  await apiServices.deleteAPIService({ name: API_SERVICE }).catch((error: unknown) => {
    if (!isNotFound(error)) throw error
  })
  if (adapter) {
    // The aggregator keeps its connections open between requests; the close would wait them out.
    const closed = adapter.app.close()
    adapter.app.server.closeAllConnections()
    await closed
  }
  await Promise.all([modelServer, ...servers].filter(Boolean).map((server) => server.stop('SIGKILL')))
  await Promise.allSettled(inFlight)
  await deleteNamespaces(kube, [namespace], () => {})
})

/** A Service without a selector and the EndpointSlice that lists `server` as its one pod, as the controller would. */
function modelServerService(name: string, server: WorkloadProcess): KubernetesObject[] {
  const url = new URL(server.url)
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { ports: [{ name: 'http', port: 8000 }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-local`,
        namespace,
        labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'serving-lab-tests' },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: Number(url.port), protocol: 'TCP' }],
      endpoints: [{ addresses: [url.hostname], conditions: { ready: true } }],
    },
  ] as unknown as KubernetesObject[]
}

/** Requests that keep the one sequence busy: all but the first wait for `seconds`. */
function keepBusy(server: WorkloadProcess, requests: number, seconds: number) {
  for (let i = 0; i < requests; i++)
    inFlight.push(
      fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt: 'count', max_tokens: seconds * 10, ignore_eos: true }),
      })
        .then((response) => response.text())
        // The server is killed at the end with requests still running.
        .catch(() => undefined),
    )
}

describe('the metrics adapter behind the aggregator', () => {
  it('is discovered: its metrics are resources of external.metrics.k8s.io/v1beta1', async () => {
    const { status, body } = await getJson(base)
    expect(status).toBe(200)
    expect(body.kind).toBe('APIResourceList')
    const names = (body.resources as { name: string; namespaced: boolean }[]).map((r) => r.name)
    expect(names).toEqual(expect.arrayContaining(['waiting-requests', 'running-requests', 'kv-cache-usage']))
  })

  it('answers waiting-requests with the waiting requests scraped from the selected model server', async () => {
    keepBusy(modelServer, 3, 40)
    const path = `${base}/namespaces/${namespace}/waiting-requests?labelSelector=${encodeURIComponent('kubernetes.io/service-name=llama')}`
    const answer = await waitFor(
      'two waiting requests through the aggregator',
      async () => {
        const { status, body } = await getJson(path)
        const items = body.items as { value: string }[] | undefined
        return status === 200 && items?.[0]?.value === '2' && body
      },
      5000,
    )
    expect(answer.kind).toBe('ExternalMetricValueList')
    const [item] = answer.items as { metricName: string; metricLabels: Record<string, string>; timestamp: string }[]
    expect(item!.metricName).toBe('waiting-requests')
    expect(item!.metricLabels).toEqual({ 'kubernetes.io/service-name': 'llama' })
    expect(Date.parse(item!.timestamp)).not.toBeNaN()
  })

  it('answers an empty list when the selector selects no pod, so the HPA does not read it as zero', async () => {
    const path = `${base}/namespaces/${namespace}/waiting-requests?labelSelector=${encodeURIComponent('kubernetes.io/service-name=nothing')}`
    const { status, body } = await getJson(path)
    expect(status).toBe(200)
    expect(body.items).toEqual([])
  })

  it('answers a malformed selector with a BadRequest Status', async () => {
    const { status, body } = await getJson(
      `${base}/namespaces/${namespace}/waiting-requests?labelSelector=${encodeURIComponent('app in (')}`,
    )
    expect(status).toBe(400)
    expect(body).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 })
  })

  it('answers a metric it does not serve with a Kubernetes NotFound Status', async () => {
    const { status, body } = await getJson(`${base}/namespaces/${namespace}/vllm-num-requests-waiting`)
    expect(status).toBe(404)
    expect(body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 })
    expect(body.message).toContain('vllm-num-requests-waiting')
  })

  it('keeps its certificate in the Secret and trusts it through the caBundle: a second start reuses both', async () => {
    const again = await provideServingCertificate(kube.config, certificatePlace)
    expect(again).toEqual(tls)
    const current = await apiServices.readAPIService({ name: API_SERVICE })
    expect(Buffer.from(current.spec!.caBundle!, 'base64').toString()).toBe(tls.cert)
  })

  it('refuses a caller without a client certificate', async () => {
    const answer = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const call = request(
        {
          host: '127.0.0.1',
          port: adapterPort,
          path: base,
          ca: tls.cert,
          servername: `metrics-adapter.${namespace}.svc`,
        },
        (response) => {
          let text = ''
          response.on('data', (chunk: Buffer) => (text += chunk.toString()))
          response.on('end', () => resolve({ status: response.statusCode!, body: jsonOrText(text) }))
        },
      )
      call.on('error', reject)
      call.end()
    })
    expect(answer.status).toBe(401)
    expect(answer.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized' })
  })

  // The availability check dials with InsecureSkipVerify (kube-aggregator's remote available
  // controller: "Insecure: true // this gets zeroed out"), so a wrong caBundle leaves the APIService
  // Available: the verification that fails is the proxy's, on every request it passes on.
  it('refuses to pass requests on when the caBundle is not the CA that signed its certificate', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'metrics-adapter-other-'))
    try {
      const otherCa = await makeServingCertificate(otherDir, {
        commonName: 'another-ca',
        altNames: [`DNS:metrics-adapter.${namespace}.svc`],
        days: 1,
      })
      await apply(kube, [apiService(otherCa)])
      const refused = await waitFor(
        'the aggregator to refuse the certificate',
        async () => {
          const answer = await getJson(base)
          return answer.status === 503 && answer
        },
        10_000,
      )
      expect(String(refused.body.message)).toMatch(/x509|certificate/i)
    } finally {
      await apply(kube, [apiService(tls.cert)])
      await rm(otherDir, { recursive: true, force: true })
    }
    await waitFor('answers through the aggregator again', async () => (await getJson(base)).status === 200, 10_000)
  })

  it('drives a real HorizontalPodAutoscaler: kube-controller-manager reads the metric and scales the StatefulSet', async () => {
    // A model server of its own, behind Service `llama-hpa`, so the other tests' load does not count.
    const busy = await startModelServer(
      ['--max-num-seqs', '1', '--inter-token-latency-ms', '100'],
      {},
      { host: machineAddress() },
    )
    servers.push(busy)
    await apply(kube, [
      ...modelServerService('llama-hpa', busy),
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'llama', namespace },
        spec: {
          serviceName: 'llama',
          selector: { matchLabels: { app: 'llama' } },
          template: {
            metadata: { labels: { app: 'llama' } },
            spec: { containers: [{ name: 'model-server', image: 'serving-lab:test' }] },
          },
        },
      },
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'llama', namespace },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'llama' },
          minReplicas: 1,
          maxReplicas: 4,
          metrics: [
            {
              type: 'External',
              external: {
                metric: {
                  name: 'waiting-requests',
                  selector: { matchLabels: { 'kubernetes.io/service-name': 'llama-hpa' } },
                },
                target: { type: 'AverageValue', averageValue: '1' },
              },
            },
          ],
        },
      },
    ] as unknown as KubernetesObject[])
    keepBusy(busy, 3, 40)
    // Two waiting at one replica, one per replica wanted: ceil(1 × 2 / 1) = 2. The controller
    // syncs every 15 s, so two periods bound the wait.
    let seen: unknown
    const hpa = await waitFor(
      'the HPA to see two waiting requests and want two replicas',
      async () => {
        const current = await autoscalers.readNamespacedHorizontalPodAutoscaler({ name: 'llama', namespace })
        seen = current.status
        const value = current.status?.currentMetrics?.[0]?.external?.current?.averageValue
        return current.status?.desiredReplicas === 2 && value === '2' && current
      },
      35_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the HPA's status: ${JSON.stringify(seen)}`)
    })
    expect(hpa.status!.currentMetrics![0]!.external!.metric.name).toBe('waiting-requests')
  })
})
