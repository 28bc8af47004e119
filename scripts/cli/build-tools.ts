// npm run build:tools: builds, once and into the cache, the Go programs the steps and the tests
// use beside the clusters' own binaries: Prometheus and promtool with Kubernetes service
// discovery, the LeaderWorkerSet controller, and prometheus-operator's CRDs (with controller-gen).
// Built here, before the tests, none of them is compiled inside a test's time limit.
import { dirname } from 'node:path'
import { ensureLwsController } from '../lib/build/binaries.ts'
import { monitoringCrdObjects } from '../lib/build/prometheus-operator-crds.ts'
import { ensurePrometheus } from '../lib/build/prometheus.ts'
import { createPrinter } from '../lib/output.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const { emit } = createPrinter(false)
  const started = Date.now()
  const tools = await ensurePrometheus(emit)
  const lws = await ensureLwsController(emit)
  const crds = await monitoringCrdObjects(emit)
  emit({
    kind: 'notice',
    level: 'info',
    message:
      `prometheus and promtool (${dirname(tools.prometheus)}), the LWS controller (${lws}) and ` +
      `${crds.length} prometheus-operator CRDs ready in ${Math.round((Date.now() - started) / 1000)} s`,
  })
  return 0
})
