// The Performance page's tables and charts, made at build time from the recorded benchmark runs
// in docs/data/benchmarks/ (written by `npm run bench -- NAME --json docs/data/benchmarks/NAME.json`).
import { fileURLToPath } from 'node:url'
import { defineLoader } from 'vitepress'
import {
  figuresOf,
  machineOf,
  ratioChartSvg,
  readReports,
  routerModes,
  routerRows,
  type RouterRow,
} from '../scripts/lib/bench-report.ts'

export interface RecordedRun {
  date: string
  machine: string
}

export interface PerformanceData {
  router: (RecordedRun & { rows: RouterRow[]; charts: Record<string, string> }) | null
  modelServer: (RecordedRun & { figures: Figure[] }) | null
  learnerLoop: (RecordedRun & { figures: Figure[] }) | null
}

interface Figure {
  metric: string
  value: number
  unit: string
}

declare const data: PerformanceData
export { data }

export default defineLoader({
  watch: ['./data/benchmarks/*.json'],
  async load(): Promise<PerformanceData> {
    const reports = await readReports(fileURLToPath(new URL('./data/benchmarks', import.meta.url)))
    const run = (name: string) => reports[name] && { date: reports[name].date, machine: machineOf(reports[name]) }
    const router = reports['router']
    const modelServer = reports['model-server']
    const learnerLoop = reports['learner-loop']
    const rows = router ? routerRows(figuresOf(router, 'router')) : []
    return {
      router: router
        ? {
            ...run('router')!,
            rows,
            charts: Object.fromEntries(routerModes.map((mode) => [mode, ratioChartSvg(rows, mode)])),
          }
        : null,
      modelServer: modelServer
        ? {
            ...run('model-server')!,
            figures: modelServer.results.filter((r) => r.benchmark === 'model-server'),
          }
        : null,
      learnerLoop: learnerLoop
        ? { ...run('learner-loop')!, figures: learnerLoop.results.filter((r) => r.benchmark === 'learner-loop') }
        : null,
    }
  },
})
