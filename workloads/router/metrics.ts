import { Counter, Gauge, Histogram } from 'prom-client'
import type { Registry } from 'prom-client'
import type { Backend } from './backend.ts'
import { breakerStateValue } from './breaker.ts'

/** How an attempt on a backend ended; `rejected` is a request no backend could take (label backend="none"). */
export type Outcome = 'success' | 'error' | 'timeout' | 'cancelled' | 'rejected'
const outcomes: Outcome[] = ['success', 'error', 'timeout', 'cancelled', 'rejected']

/** From a few milliseconds (the router's own cost) to the minutes a long generation can take. */
const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

/** The router's metrics; gauges read the pool at each scrape. */
export function createRouterMetrics(registry: Registry, backends: () => readonly Backend[]) {
  const registers = [registry]
  const requests = new Counter({
    name: 'serving_lab_router_requests_total',
    help: 'Requests sent to a backend (each attempt, retries included), by how they ended; rejected: no backend could take one.',
    labelNames: ['backend', 'outcome'] as const,
    registers,
  })
  const latency = new Histogram({
    name: 'serving_lab_router_upstream_latency_seconds',
    help: 'Time from sending a request to a backend until its answer ended (the last byte of a stream).',
    labelNames: ['backend'] as const,
    buckets: latencyBuckets,
    registers,
  })
  new Gauge({
    name: 'serving_lab_router_healthy_backends',
    help: 'Backends in service: ready in discovery, passing health checks, breaker not open.',
    registers,
    collect() {
      this.set(backends().filter((b) => b.inService).length)
    },
  })
  new Gauge({
    name: 'serving_lab_router_breaker_state',
    help: 'Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.',
    labelNames: ['backend'] as const,
    registers,
    collect() {
      this.reset()
      for (const backend of backends()) this.set({ backend: backend.address }, breakerStateValue[backend.breaker.state])
    },
  })
  const retries = new Counter({
    name: 'serving_lab_router_retries_total',
    help: 'Requests sent again to another backend after a failed attempt.',
    registers,
  })
  requests.inc({ backend: 'none', outcome: 'rejected' }, 0)
  retries.inc(0)

  return {
    requests,
    latency,
    retries,
    /** Drops the series of a backend discovery no longer lists. */
    forget(address: string) {
      for (const outcome of outcomes) requests.remove({ backend: address, outcome })
      latency.remove({ backend: address })
    },
  }
}

export type RouterMetrics = ReturnType<typeof createRouterMetrics>
