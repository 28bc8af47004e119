// The objects of the external.metrics.k8s.io/v1beta1 API and of Kubernetes API discovery, as the
// aggregator and the HPA controller read them (k8s.io/metrics pkg/apis/external_metrics/v1beta1).
import type { ServedMetric } from './served-metrics.ts'

export const GROUP = 'external.metrics.k8s.io'
export const VERSION = 'v1beta1'
export const GROUP_VERSION = `${GROUP}/${VERSION}`

const groupVersion = { groupVersion: GROUP_VERSION, version: VERSION }

/** `GET /apis`: the groups this server serves. */
export const apiGroupList = () => ({
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: [apiGroup()],
})

/** `GET /apis/external.metrics.k8s.io`. */
export const apiGroup = () => ({
  kind: 'APIGroup',
  apiVersion: 'v1',
  name: GROUP,
  versions: [groupVersion],
  preferredVersion: groupVersion,
})

/**
 * `GET /apis/external.metrics.k8s.io/v1beta1`: one resource per served metric, namespaced, with
 * the one verb the API has (KEDA's metrics server lists its metrics the same way).
 */
export const apiResourceList = (metrics: readonly ServedMetric[]) => ({
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: GROUP_VERSION,
  resources: metrics.map((metric) => ({
    name: metric.name,
    singularName: '',
    namespaced: true,
    kind: 'ExternalMetricValueList',
    verbs: ['get'],
  })),
})

/**
 * A number as a Kubernetes Quantity: whole numbers plain (`12`), others in thousandths (`1500m`),
 * the finest the HPA compares at (it reads `MilliValue()`).
 */
export function quantity(value: number): string {
  const milli = Math.round(value * 1000)
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`
}

export interface MetricValue {
  metricName: string
  /** The query's selector as labels, which is how the HPA's `kubectl describe` shows it. */
  metricLabels: Record<string, string>
  value: number
  timestamp: Date
  windowSeconds?: number
}

/** `GET …/namespaces/{ns}/{metric}`: the answer, a list of one value (empty when nothing was found). */
export const externalMetricValueList = (values: readonly MetricValue[]) => ({
  kind: 'ExternalMetricValueList',
  apiVersion: GROUP_VERSION,
  metadata: {},
  items: values.map((v) => ({
    metricName: v.metricName,
    metricLabels: v.metricLabels,
    timestamp: v.timestamp.toISOString().replace(/\.\d+Z$/, 'Z'),
    ...(v.windowSeconds === undefined ? {} : { window: v.windowSeconds }),
    value: quantity(v.value),
  })),
})

const reasons: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  500: 'InternalError',
  503: 'ServiceUnavailable',
}

/** A failure as every Kubernetes API server answers one: a `Status` with the code, a reason and a message. */
export function status(code: number, message: string, details?: { name?: string; group?: string; kind?: string }) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: reasons[code] ?? (code >= 500 ? 'InternalError' : 'BadRequest'),
    ...(details ? { details } : {}),
    code,
  }
}

/** The selector `a=b,c in (d,e)` as labels: equality terms only, which are all `metricLabels` can hold. */
export function selectorLabels(labelSelector: string): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const term of labelSelector.split(/,(?![^(]*\))/)) {
    const match = /^\s*([^!=\s]+)\s*==?\s*(\S*)\s*$/.exec(term)
    if (match) labels[match[1]!] = match[2]!
  }
  return labels
}
