// The Performance page's figures, made at build time from the JSON `npm run bench` writes:
// recorded runs in docs/data/benchmarks/, one file per benchmark.
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/** One run as `npm run bench -- NAME --json FILE` writes it. */
export interface BenchReport {
  date: string
  node: string
  platform: string
  cpu?: string
  cpus: number
  /** 1, 5 and 15 minute load averages when the run ended (runs before it was recorded have none). */
  loadAverage?: number[]
  results: { benchmark: string; metric: string; value: number; unit: string }[]
}

/** Where a run was made, in one line. */
export function machineOf(report: BenchReport): string {
  const load = report.loadAverage ? `, load average ${report.loadAverage.join(' / ')} at the end` : ''
  return `${report.cpus} × ${report.cpu ?? 'unknown CPU'}, ${report.platform}, Node.js ${report.node.replace(/^v/, '')}${load}`
}

/** A report's figures by metric name, for one benchmark. */
export function figuresOf(report: BenchReport, benchmark: string): Map<string, number> {
  return new Map(report.results.filter((r) => r.benchmark === benchmark).map((r) => [r.metric, r.value]))
}

export const routerModes = ['whole', 'streamed'] as const
export const routerProxies = ['router', 'nginx', 'haproxy'] as const

/** One row of the router table: a mode and a number of connections. */
export interface RouterRow {
  mode: string
  connections: number
  /** Requests per second going direct. */
  direct: number
  /** Each proxy's throughput as a fraction of direct, its added p50 (ms) and its CPU per request (µs); null when not measured. */
  proxies: Record<string, { throughput: number; addedP50: number; cpuPerRequest: number | null } | null>
}

/** The router benchmark's rows, in the order it measured them. */
export function routerRows(figures: Map<string, number>): RouterRow[] {
  const rows: RouterRow[] = []
  const cells = [...figures.keys()].flatMap((metric) => {
    const match = /^(whole|streamed) c=(\d+) direct: throughput$/.exec(metric)
    return match ? [{ mode: match[1]!, connections: Number(match[2]) }] : []
  })
  for (const { mode, connections } of cells) {
    const at = `${mode} c=${connections}`
    const proxies: RouterRow['proxies'] = {}
    for (const proxy of routerProxies) {
      const throughput = figures.get(`${at} ${proxy}/direct: throughput`)
      proxies[proxy] =
        throughput === undefined
          ? null
          : {
              throughput,
              addedP50: figures.get(`${at} ${proxy}: added latency p50`) ?? Number.NaN,
              cpuPerRequest: figures.get(`${at} ${proxy}: CPU per request`) ?? null,
            }
    }
    rows.push({ mode, connections, direct: figures.get(`${at} direct: throughput`)!, proxies })
  }
  return rows
}

const chartColours: Record<string, string> = { router: '#3451b2', nginx: '#2f9e44', haproxy: '#e8590c' }

/**
 * A bar chart of each proxy's throughput as a fraction of going direct, grouped by the number of
 * connections, for one mode: an SVG picture, with a line at 1 (as fast as going direct).
 */
export function ratioChartSvg(rows: readonly RouterRow[], mode: string): string {
  const shown = rows.filter((row) => row.mode === mode)
  const proxies = routerProxies.filter((p) => shown.some((row) => row.proxies[p]))
  const width = 560
  const height = 220
  const left = 40
  const bottom = 30
  const top = 24
  const plotHeight = height - top - bottom
  const max = Math.max(1.2, ...shown.flatMap((row) => proxies.map((p) => row.proxies[p]?.throughput ?? 0)))
  const y = (value: number) => top + plotHeight * (1 - value / max)
  const groupWidth = (width - left - 10) / Math.max(1, shown.length)
  const barWidth = (groupWidth * 0.7) / Math.max(1, proxies.length)
  const parts: string[] = []
  for (const tick of [0, 0.5, 1].filter((t) => t <= max)) {
    parts.push(
      `<line x1="${left}" x2="${width - 10}" y1="${y(tick)}" y2="${y(tick)}" stroke="#999" stroke-width="${tick === 1 ? 1.5 : 0.5}"${tick === 1 ? '' : ' stroke-dasharray="3 3"'}/>`,
      `<text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end" font-size="11">${tick}</text>`,
    )
  }
  shown.forEach((row, i) => {
    const x0 = left + i * groupWidth + groupWidth * 0.15
    proxies.forEach((proxy, j) => {
      const value = row.proxies[proxy]?.throughput
      if (value === undefined) return
      const x = x0 + j * barWidth
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(value).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(y(0) - y(value)).toFixed(1)}" fill="${chartColours[proxy]}"><title>${proxy}, ${row.connections} connections: ${value.toFixed(2)} of direct</title></rect>`,
      )
    })
    parts.push(
      `<text x="${(x0 + (groupWidth * 0.7) / 2).toFixed(1)}" y="${height - 10}" text-anchor="middle" font-size="11">${row.connections} conn.</text>`,
    )
  })
  proxies.forEach((proxy, j) => {
    const x = left + j * 90
    parts.push(
      `<rect x="${x}" y="4" width="10" height="10" fill="${chartColours[proxy]}"/>`,
      `<text x="${x + 14}" y="13" font-size="11">${proxy}</text>`,
    )
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="Throughput through each proxy as a fraction of going direct, ${mode} answers" font-family="sans-serif" fill="currentColor">`,
    ...parts,
    '</svg>',
  ].join('\n')
}

/** The recorded reports in `dir`, by file name without `.json`; none when the folder is missing. */
export async function readReports(dir: string): Promise<Record<string, BenchReport>> {
  const names = await readdir(dir).catch(() => [] as string[])
  const reports: Record<string, BenchReport> = {}
  for (const name of names.filter((n) => n.endsWith('.json')).sort())
    reports[name.slice(0, -'.json'.length)] = JSON.parse(await readFile(join(dir, name), 'utf8')) as BenchReport
  return reports
}
