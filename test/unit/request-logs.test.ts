import { describe, expect, it } from 'vitest'
import { formatRequestLine, linesOfRequest } from '../../scripts/lib/request-logs.ts'

const line = (fields: Record<string, unknown>) => JSON.stringify({ level: 30, ...fields })

// Each hop writes one access line when its answer is sent: the frontend took the request at
// 1000 and answered at 1090; the model server took it at 1020 and answered at 1080.
const frontend = {
  namespace: 'lab-06',
  pod: 'frontend-7d9f',
  container: 'frontend',
  text: [
    line({ time: 1001, service: 'frontend', reqId: 'r-2', msg: 'request completed', responseTime: 3 }),
    'not json: a panic trace',
    '{"broken": ',
    line({ time: 1050, service: 'frontend', reqId: 'r-1', level: 40, msg: 'attempt failed', backend: '10.0.0.9:8000' }),
    line({
      time: 1090,
      service: 'frontend',
      reqId: 'r-1',
      req: { method: 'POST', url: '/v1/completions' },
      res: { statusCode: 200 },
      responseTime: 90,
      msg: 'request completed',
    }),
  ].join('\n'),
}
const modelServer = {
  namespace: 'lab-06',
  pod: 'llama-a-0',
  container: 'model-server',
  text: line({ time: 1080, service: 'model-server', reqId: 'r-1', msg: 'request completed', responseTime: 60 }) + '\n',
}

describe('linesOfRequest', () => {
  it("keeps the request's lines from every log, each where its part began, and passes over other lines", () => {
    const lines = linesOfRequest([frontend, modelServer], 'r-1')
    expect(lines.map((l) => [l.started, l.service, l.pod, l.msg])).toEqual([
      [1000, 'frontend', 'lab-06/frontend-7d9f', 'request completed'],
      [1020, 'model-server', 'lab-06/llama-a-0', 'request completed'],
      [1050, 'frontend', 'lab-06/frontend-7d9f', 'attempt failed'],
    ])
    expect(lines.map((l) => l.time)).toEqual([1090, 1080, 1050])
  })

  it('finds nothing for an id no line names', () => {
    expect(linesOfRequest([frontend, modelServer], 'r-9')).toEqual([])
  })
})

describe('formatRequestLine', () => {
  it('prints when the part began, service, pod, message and what the line says of the request', () => {
    const [first, , last] = linesOfRequest([frontend, modelServer], 'r-1')
    expect(formatRequestLine(first!)).toBe(
      '00:00:01.000  frontend      lab-06/frontend-7d9f         request completed  POST /v1/completions  200  90.0 ms',
    )
    expect(formatRequestLine(last!)).toBe(
      '00:00:01.050  frontend      lab-06/frontend-7d9f         attempt failed  backend 10.0.0.9:8000',
    )
  })
})
