import { parseSamples, type Sample } from '../shared/prometheus-text.ts'
import type { ServedMetric } from './served-metrics.ts'

export interface MetricReading {
  /** Null when no selected pod exported the metric's series: there is nothing to scale on. */
  value: number | null
  /** The endpoints selected, and those whose `/metrics` answered. */
  targets: number
  scraped: number
}

export interface MetricReaderOptions {
  /** The `host:port` of every pod a query selects. */
  targetsOf: (namespace: string, labelSelector: string) => Promise<string[]>
  scrapeTimeoutMs: number
}

/**
 * Reads a served metric now: the selected pods' `/metrics` scraped at once, each within the
 * timeout, their samples folded into one value. Scraping on demand, rather than on a timer,
 * suits the HPA, which asks every sync period (15 s) and wants the value as of its asking. A pod
 * that does not answer is left out, as Prometheus leaves out a target that is down.
 */
export async function readMetric(
  metric: ServedMetric,
  namespace: string,
  labelSelector: string,
  options: MetricReaderOptions,
): Promise<MetricReading> {
  const targets = await options.targetsOf(namespace, labelSelector)
  const wanted = (name: string) => metric.series.includes(name)
  const texts = await Promise.all(targets.map((target) => scrape(target, options.scrapeTimeoutMs).catch(() => null)))
  const pods: Sample[][] = texts.filter((text) => text !== null).map((text) => parseSamples(text, wanted))
  return { value: metric.fold(pods), targets: targets.length, scraped: pods.length }
}

async function scrape(target: string, timeoutMs: number): Promise<string> {
  const response = await fetch(`http://${target}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })
  if (!response.ok) throw new Error(`${target}/metrics answered ${response.status}`)
  return response.text()
}
