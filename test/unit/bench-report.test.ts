import { describe, expect, it } from 'vitest'
import { figuresOf, machineOf, ratioChartSvg, routerRows, type BenchReport } from '../../scripts/lib/bench-report.ts'

const report: BenchReport = {
  date: '2026-12-02T02:00:00.000Z',
  node: 'v22.23.5',
  platform: 'linux-x64',
  cpu: 'AMD EPYC',
  cpus: 2,
  loadAverage: [3.5, 2, 1],
  results: [
    { benchmark: 'router', metric: 'whole c=1 direct: throughput', value: 1000, unit: 'requests/s' },
    { benchmark: 'router', metric: 'whole c=1 router/direct: throughput', value: 0.5, unit: 'ratio' },
    { benchmark: 'router', metric: 'whole c=1 router: added latency p50', value: 0.3, unit: 'ms' },
    { benchmark: 'router', metric: 'whole c=1 router: CPU per request', value: 400, unit: 'µs' },
    { benchmark: 'router', metric: 'whole c=1 nginx/direct: throughput', value: 0.9, unit: 'ratio' },
    { benchmark: 'router', metric: 'whole c=1 nginx: added latency p50', value: 0.05, unit: 'ms' },
    { benchmark: 'router', metric: 'streamed c=16 direct: throughput', value: 2000, unit: 'requests/s' },
    { benchmark: 'router', metric: 'streamed c=16 router/direct: throughput', value: 0.25, unit: 'ratio' },
    { benchmark: 'model-server', metric: 'whole c=1 direct: throughput', value: 1, unit: 'requests/s' },
  ],
}

describe('the Performance page from recorded benchmark runs', () => {
  it('names the machine, with the load average when the run recorded one', () => {
    expect(machineOf(report)).toBe('2 × AMD EPYC, linux-x64, Node.js 22.23.5, load average 3.5 / 2 / 1 at the end')
    expect(machineOf({ ...report, loadAverage: undefined })).not.toMatch(/load/)
  })

  it('makes one row per mode and connections, with the proxies that were measured', () => {
    const rows = routerRows(figuresOf(report, 'router'))
    expect(rows.map((r) => [r.mode, r.connections, r.direct])).toEqual([
      ['whole', 1, 1000],
      ['streamed', 16, 2000],
    ])
    expect(rows[0]!.proxies).toEqual({
      router: { throughput: 0.5, addedP50: 0.3, cpuPerRequest: 400 },
      nginx: { throughput: 0.9, addedP50: 0.05, cpuPerRequest: null },
      haproxy: null,
    })
  })

  it('draws a bar for each proxy measured in the mode, with its ratio in the title', () => {
    const rows = routerRows(figuresOf(report, 'router'))
    const whole = ratioChartSvg(rows, 'whole')
    expect(whole.startsWith('<svg')).toBe(true)
    expect(whole.match(/<rect [^>]*><title>/g)).toHaveLength(2)
    expect(whole).toContain('router, 1 connections: 0.50 of direct')
    expect(whole).toContain('nginx, 1 connections: 0.90 of direct')
    expect(whole).not.toContain('>haproxy<')
    expect(ratioChartSvg(rows, 'streamed').match(/<rect [^>]*><title>/g)).toHaveLength(1)
  })
})
