import { describe, expect, it } from 'vitest'
import { formatRequestLine, linesOfRequest } from '../../scripts/lib/request-logs.ts'

const line = (fields: Record<string, unknown>) => JSON.stringify({ level: 30, ...fields })

const frontend = {
  namespace: 'lab-06',
  pod: 'frontend-7d9f',
  container: 'frontend',
  text: [
    line({
      time: 1000,
      service: 'frontend',
      reqId: 'r-1',
      req: { method: 'POST', url: '/v1/completions' },
      msg: 'incoming request',
    }),
    line({ time: 1001, service: 'frontend', reqId: 'r-2', msg: 'incoming request' }),
    'not json: a panic trace',
    '{"broken": ',
    line({
      time: 1090,
      service: 'frontend',
      reqId: 'r-1',
      res: { statusCode: 200 },
      responseTime: 90.04,
      msg: 'request completed',
    }),
  ].join('\n'),
}
const modelServer = {
  namespace: 'lab-06',
  pod: 'llama-a-0',
  container: 'model-server',
  text: line({ time: 1020, service: 'model-server', reqId: 'r-1', msg: 'incoming request' }) + '\n',
}

describe('linesOfRequest', () => {
  it("keeps the request's lines from every log, in time order, and passes over other lines", () => {
    const lines = linesOfRequest([frontend, modelServer], 'r-1')
    expect(lines.map((l) => [l.time, l.service, l.pod])).toEqual([
      [1000, 'frontend', 'lab-06/frontend-7d9f'],
      [1020, 'model-server', 'lab-06/llama-a-0'],
      [1090, 'frontend', 'lab-06/frontend-7d9f'],
    ])
  })

  it('finds nothing for an id no line names', () => {
    expect(linesOfRequest([frontend, modelServer], 'r-9')).toEqual([])
  })
})

describe('formatRequestLine', () => {
  it('prints time, service, pod, message and what the line says of the request', () => {
    const [first, , last] = linesOfRequest([frontend, modelServer], 'r-1')
    expect(formatRequestLine(first!)).toBe(
      '00:00:01.000  frontend      lab-06/frontend-7d9f         incoming request  POST /v1/completions',
    )
    expect(formatRequestLine(last!)).toMatch(/request completed {2}200 {2}90\.0 ms$/)
  })
})
