// What a model server or router reports of the accepted configuration it runs: `GET /config`
// and a gauge. Apart from accepted-config.ts, which follows the ConfigMap through the API, so that
// a process that follows none never loads the Kubernetes client.
import type { FastifyInstance } from 'fastify'
import { Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import type { LiveConfig } from './live-config.ts'

/** `GET /config` and the gauge `serving_lab_config_generation`. */
export function registerConfigReport<Config extends object>(
  app: FastifyInstance,
  registry: Registry,
  live: LiveConfig<Config>,
): void {
  new Gauge({
    name: 'serving_lab_config_generation',
    help: "Generation of the accepted serving configuration this process runs; 0 before any. (The lab's.)",
    registers: [registry],
    collect() {
      this.set(live.report.generation)
    },
  })
  app.get('/config', async () => live.report)
}
