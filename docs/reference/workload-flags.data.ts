// The workloads' settings as their `--help` prints them, read from the same arrays and defaults
// the workloads load their configuration with, so the page cannot drift from the code.
import { defineLoader } from 'vitepress'
import * as coordinator from '../../workloads/coordinator/config.ts'
import * as gpuInventory from '../../workloads/gpu-inventory/config.ts'
import * as metricsAdapter from '../../workloads/metrics-adapter/config.ts'
import * as frontend from '../../workloads/frontend/config.ts'
import * as modelServer from '../../workloads/model-server/config.ts'
import * as router from '../../workloads/router/config.ts'
import * as scheduler from '../../workloads/scheduler/config.ts'
import { settingsHelp, type SettingHelp } from '../../workloads/shared/config.ts'

export interface WorkloadFlags {
  modelServer: SettingHelp[]
  router: SettingHelp[]
  coordinator: SettingHelp[]
  scheduler: SettingHelp[]
  gpuInventory: SettingHelp[]
  frontend: SettingHelp[]
  metricsAdapter: SettingHelp[]
}

declare const data: WorkloadFlags
export { data }

export default defineLoader({
  load(): WorkloadFlags {
    return {
      modelServer: settingsHelp(modelServer.defaults, modelServer.settings),
      router: settingsHelp(router.defaults, router.settings),
      coordinator: settingsHelp(coordinator.defaults, coordinator.settings),
      scheduler: settingsHelp(scheduler.defaults, scheduler.settings),
      gpuInventory: settingsHelp(gpuInventory.defaults, gpuInventory.settings),
      frontend: settingsHelp(frontend.defaults, frontend.settings),
      metricsAdapter: settingsHelp(metricsAdapter.defaults, metricsAdapter.settings),
    }
  },
})
