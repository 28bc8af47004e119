// The external metrics the adapter serves: each is one number folded from the Prometheus series
// of the pods a query selects, as prometheus-adapter's `sum(<<.Series>>{<<.LabelMatchers>>})`
// would fold them. Names are lower case with dashes, as the HPA's `metric.name` is a path segment.
import type { Sample } from '../shared/prometheus-text.ts'

/** The model server's (and vLLM's) request gauges and KV-cache use. */
export const VLLM_WAITING = 'vllm:num_requests_waiting'
export const VLLM_RUNNING = 'vllm:num_requests_running'
export const VLLM_KV_CACHE_USAGE = 'vllm:kv_cache_usage_perc'
/** The frontend's priority queue: requests accepted and not yet sent to any model server. */
export const FRONTEND_QUEUED = 'serving_lab_frontend_queued_requests'

export interface ServedMetric {
  name: string
  description: string
  /** The series read from each pod's `/metrics`. */
  series: readonly string[]
  /** One value from the samples of every pod scraped (one array per pod); null when none had the series. */
  fold: (pods: readonly Sample[][]) => number | null
}

const sumOf = (samples: readonly Sample[]) => samples.reduce((total, s) => total + s.value, 0)

/** The sum over every pod of the named series; null if no pod exports any of them. */
function sumAcrossPods(pods: readonly Sample[][]): number | null {
  const found = pods.flat()
  return found.length === 0 ? null : sumOf(found)
}

/** The mean over the pods that export the series of each pod's largest sample (a server with two models has one cache). */
function meanOfPodMaxima(pods: readonly Sample[][]): number | null {
  const maxima = pods.filter((samples) => samples.length > 0).map((samples) => Math.max(...samples.map((s) => s.value)))
  return maxima.length === 0 ? null : maxima.reduce((total, value) => total + value, 0) / maxima.length
}

export const servedMetrics: readonly ServedMetric[] = [
  {
    name: 'waiting-requests',
    description: `requests waiting anywhere: ${VLLM_WAITING} of the model servers plus ${FRONTEND_QUEUED} of the frontends, summed over the selected pods`,
    series: [VLLM_WAITING, FRONTEND_QUEUED],
    fold: sumAcrossPods,
  },
  {
    name: 'running-requests',
    description: `requests being generated: ${VLLM_RUNNING}, summed over the selected pods`,
    series: [VLLM_RUNNING],
    fold: sumAcrossPods,
  },
  {
    name: 'kv-cache-usage',
    description: `${VLLM_KV_CACHE_USAGE} (0 to 1), averaged over the selected pods that export it`,
    series: [VLLM_KV_CACHE_USAGE],
    fold: meanOfPodMaxima,
  },
]

export const servedMetric = (name: string): ServedMetric | undefined => servedMetrics.find((m) => m.name === name)
