// What the metrics adapter serves: the samples it reads from Prometheus text, how each metric
// folds the pods' samples into one value, the API objects it answers with, and a read of real
// `/metrics` endpoints (loopback HTTP servers), a slow or failing one left out.
import { createServer, type Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { parseSamples } from '../../workloads/shared/prometheus-text.ts'
import { servedMetric, servedMetrics } from '../../workloads/metrics-adapter/served-metrics.ts'
import {
  apiResourceList,
  externalMetricValueList,
  quantity,
  selectorLabels,
  status,
} from '../../workloads/metrics-adapter/api-objects.ts'
import { readMetric } from '../../workloads/metrics-adapter/metric-reader.ts'

const modelServerText = (waiting: number, running: number, kv: number) =>
  [
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting{model_name="llama",engine="0"} ${waiting}`,
    `vllm:num_requests_running{model_name="llama",engine="0"} ${running}`,
    `vllm:kv_cache_usage_perc{model_name="llama",engine="0"} ${kv}`,
    'vllm:num_requests_waiting_total_not_this 99',
    '',
  ].join('\n')

const frontendText = (queued: number) =>
  ['# TYPE serving_lab_frontend_queued_requests gauge', `serving_lab_frontend_queued_requests ${queued}`, ''].join('\n')

const fold = (name: string, texts: string[]) => {
  const metric = servedMetric(name)!
  return metric.fold(texts.map((text) => parseSamples(text, (n) => metric.series.includes(n))))
}

describe('parseSamples', () => {
  it('reads the wanted samples with their labels, escapes undone, and skips comments and non-numbers', () => {
    const text = [
      '# HELP x a comment',
      'x{a="1",b="say \\"hi\\"\\nthere"} 2.5',
      'x{a="2"} NaN',
      'y 7',
      'x 3 1700000000000',
    ].join('\n')
    expect(parseSamples(text, (name) => name === 'x')).toEqual([
      { name: 'x', labels: { a: '1', b: 'say "hi"\nthere' }, value: 2.5 },
      { name: 'x', labels: {}, value: 3 },
    ])
  })
})

describe('served metrics', () => {
  it('waiting-requests adds the model servers waiting requests to the frontends queue', () => {
    expect(fold('waiting-requests', [modelServerText(3, 4, 0.5), modelServerText(2, 4, 0.1), frontendText(7)])).toBe(12)
  })

  it('running-requests sums the running requests', () => {
    expect(fold('running-requests', [modelServerText(3, 4, 0.5), modelServerText(2, 1, 0.1), frontendText(7)])).toBe(5)
  })

  it('kv-cache-usage averages over the pods that export it, not over the frontend', () => {
    expect(fold('kv-cache-usage', [modelServerText(0, 0, 0.5), modelServerText(0, 0, 0.1), frontendText(7)])).toBe(0.3)
  })

  it('has no value when no pod exports the series, rather than a zero the HPA would scale down on', () => {
    expect(fold('waiting-requests', ['process_cpu_seconds_total 1\n'])).toBeNull()
    expect(fold('kv-cache-usage', [frontendText(1)])).toBeNull()
    expect(fold('waiting-requests', [])).toBeNull()
  })

  it('have names the HPA can put in a path: lower case, digits and dashes', () => {
    for (const metric of servedMetrics) expect(metric.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/)
  })
})

describe('API objects', () => {
  it('quantities: whole numbers plain, fractions in thousandths', () => {
    expect(quantity(12)).toBe('12')
    expect(quantity(0)).toBe('0')
    expect(quantity(1.5)).toBe('1500m')
    expect(quantity(0.3333)).toBe('333m')
  })

  it('an ExternalMetricValueList holds the value, its labels and a timestamp in whole seconds', () => {
    const list = externalMetricValueList([
      {
        metricName: 'waiting-requests',
        metricLabels: { app: 'llama' },
        value: 2.25,
        timestamp: new Date(1_700_000_000_123),
      },
    ])
    expect(list).toEqual({
      kind: 'ExternalMetricValueList',
      apiVersion: 'external.metrics.k8s.io/v1beta1',
      metadata: {},
      items: [
        {
          metricName: 'waiting-requests',
          metricLabels: { app: 'llama' },
          timestamp: '2023-11-14T22:13:20Z',
          value: '2250m',
        },
      ],
    })
  })

  it('discovery lists each served metric as a namespaced resource with the get verb', () => {
    const list = apiResourceList(servedMetrics)
    expect(list.groupVersion).toBe('external.metrics.k8s.io/v1beta1')
    expect(list.resources.map((r) => r.name)).toEqual(servedMetrics.map((m) => m.name))
    for (const resource of list.resources) expect(resource).toMatchObject({ namespaced: true, verbs: ['get'] })
  })

  it('a Status carries the code and its reason', () => {
    expect(status(404, 'no such metric')).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 })
    expect(status(403, 'no')).toMatchObject({ reason: 'Forbidden' })
  })

  it('a selector becomes labels from its equality terms only', () => {
    expect(selectorLabels('app=llama,tier==serving,kubernetes.io/service-name in (a,b),!x,y!=z')).toEqual({
      app: 'llama',
      tier: 'serving',
    })
    expect(selectorLabels('')).toEqual({})
  })
})

describe('readMetric', () => {
  const servers: Server[] = []
  afterEach(async () => {
    for (const server of servers) server.closeAllConnections()
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
  })

  /** A `/metrics` endpoint on a loopback port: its text, a status, or no answer at all. */
  async function endpoint(answer: { text?: string; status?: number; hang?: boolean }): Promise<string> {
    const server = createServer((request, response) => {
      if (answer.hang) return
      response.writeHead(answer.status ?? 200, { 'content-type': 'text/plain' }).end(answer.text ?? '')
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return `127.0.0.1:${(server.address() as { port: number }).port}`
  }

  it('scrapes every selected pod and leaves out one that fails or does not answer in time', async () => {
    const targets = [
      await endpoint({ text: modelServerText(3, 1, 0.2) }),
      await endpoint({ text: frontendText(4) }),
      await endpoint({ status: 500 }),
      await endpoint({ hang: true }),
    ]
    let asked: string[] = []
    const reading = await readMetric(servedMetric('waiting-requests')!, 'lab-07', 'app=llama', {
      targetsOf: async (namespace, selector) => {
        asked = [namespace, selector]
        return targets
      },
      scrapeTimeoutMs: 300,
    })
    expect(asked).toEqual(['lab-07', 'app=llama'])
    expect(reading).toEqual({ value: 7, targets: 4, scraped: 2 })
  })

  it('has no value when no pod is selected', async () => {
    const reading = await readMetric(servedMetric('waiting-requests')!, 'lab-07', 'app=none', {
      targetsOf: async () => [],
      scrapeTimeoutMs: 300,
    })
    expect(reading).toEqual({ value: null, targets: 0, scraped: 0 })
  })
})
