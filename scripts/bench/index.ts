// npm run bench [-- names...] [--json out.json]: runs the named benchmarks (all by default),
// prints a table and writes the figures as JSON (default bench-results/<date>.json).
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { runCli } from '../cli/run.ts'
import { EnvironmentError } from '../lib/errors.ts'
import { repoRoot } from '../lib/project.ts'
import type { Benchmark, Measurement } from './benchmark.ts'
import { docsSiteBenchmark } from './docs-site.ts'
import { frontendBenchmark } from './frontend.ts'
import { kwokClusterBenchmark } from './kwok-cluster.ts'
import { modelServerBenchmark } from './model-server.ts'
import { kindClusterBenchmark } from './kind-cluster.ts'
import { learnerLoopBenchmark } from './learner-loop.ts'
import { routerBenchmark } from './router.ts'
import { schedulerBenchmark } from './scheduler.ts'

const benchmarks: readonly Benchmark[] = [
  modelServerBenchmark,
  routerBenchmark,
  frontendBenchmark,
  kwokClusterBenchmark,
  kindClusterBenchmark,
  schedulerBenchmark,
  docsSiteBenchmark,
  learnerLoopBenchmark,
]

interface Result extends Measurement {
  benchmark: string
}

await runCli(async () => {
  const { values, positionals } = parseArgs({
    options: { json: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  })
  const selected = positionals.length === 0 ? benchmarks : positionals.map(findBenchmark)

  const results: Result[] = []
  for (const benchmark of selected) {
    console.log(`▸ ${benchmark.name}: ${benchmark.description}`)
    for (const measurement of await benchmark.run()) results.push({ benchmark: benchmark.name, ...measurement })
  }
  console.log('\n' + formatTable(results))

  const date = new Date().toISOString()
  const path =
    values.json ?? join(repoRoot, 'bench-results', `${date.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`)
  const report = {
    date,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus()[0]?.model,
    cpus: cpus().length,
    // Other jobs on the machine when the run ended: its figures are only as quiet as this.
    loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
    results,
  }
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, JSON.stringify(report, null, 2) + '\n')
  console.log(`\nwritten to ${relative(process.cwd(), path)}`)
  return 0
})

function findBenchmark(name: string): Benchmark {
  const benchmark = benchmarks.find((b) => b.name === name)
  if (!benchmark)
    throw new EnvironmentError(`no benchmark named '${name}'; there are: ${benchmarks.map((b) => b.name).join(', ')}`)
  return benchmark
}

function formatTable(results: readonly Result[]): string {
  const rows = [
    ['benchmark', 'metric', 'value', 'unit'],
    ...results.map((r) => [r.benchmark, r.metric, formatValue(r.value), r.unit]),
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1)
}
