// npm run build:prometheus: builds prometheus and promtool with Kubernetes service discovery into
// the cache, once (the tests and step 08 use them from there).
import { ensurePrometheus } from '../lib/build/prometheus.ts'
import { createPrinter } from '../lib/output.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const { emit } = createPrinter(false)
  const started = Date.now()
  const tools = await ensurePrometheus(emit)
  emit({
    kind: 'notice',
    level: 'info',
    message: `${tools.prometheus} and promtool ready in ${Math.round((Date.now() - started) / 1000)} s`,
  })
  return 0
})
