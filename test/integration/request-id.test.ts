// One request's id through every hop, on real processes: a client → the frontend → a model server
// (step 06's path: the frontend routes itself), and a client → the router → a model server (step
// 04's). Each hop logs the request under the same id and the answer carries it back; a client's
// sane id is kept, a missing or unsafe one replaced. Probes and scrapes log nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWorkload, type WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import { linesOfRequest } from '../../scripts/lib/request-logs.ts'
import { logLines, model, startModelServer, waitFor } from './model-server-helpers.ts'

const node = (workload: string, flags: string[], readyPath = '/health') =>
  startWorkload(process.execPath, ['--import', 'tsx', `workloads/${workload}/main.ts`, ...flags], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH },
    readyPath,
  })

const healthChecks = ['--health-interval-ms', '200', '--health-timeout-ms', '150']

async function complete(entry: WorkloadProcess, headers: Record<string, string>, stream = false) {
  const response = await fetch(`${entry.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, prompt: 'Follow me through the logs.', max_tokens: 4, stream }),
  })
  await response.text()
  return { status: response.status, requestId: response.headers.get('x-request-id') }
}

/**
 * The services whose log lines name the request id, in the order the hops are listed. A hop writes
 * its access line just after it sent the answer, so this waits a moment for every hop's.
 */
async function hopsThatLogged(hops: Record<string, WorkloadProcess>, id: string): Promise<string[]> {
  const logged = () =>
    Object.entries(hops)
      .filter(([, workload]) => logLines(workload).some((line) => line.reqId === id))
      .map(([name]) => name)
  const every = Object.keys(hops).length
  await waitFor(`every hop to log request ${id}`, async () => logged().length === every, 5_000).catch(() => {})
  return logged()
}

describe.each([
  ['frontend', 'step 06'],
  ['router', 'step 04'],
] as const)('x-request-id from the %s to the model server (%s)', (entryName, _step) => {
  let modelServer: WorkloadProcess
  let entry: WorkloadProcess
  let hops: Record<string, WorkloadProcess>
  const both = [entryName, 'model-server']

  beforeAll(async () => {
    modelServer = await startModelServer(['--time-to-first-token-ms', '0', '--inter-token-latency-ms', '1'])
    entry = await node(entryName, ['--backends', modelServer.url, ...healthChecks], '/ready')
    hops = { [entryName]: entry, 'model-server': modelServer }
  })
  afterAll(() => Promise.all([entry, modelServer].map((w) => w?.stop('SIGKILL'))))

  it("keeps a client's id: the answer echoes it and every hop logs the request under it", async () => {
    const answer = await complete(entry, { 'x-request-id': 'trace-0001.chat:7' })
    expect(answer).toEqual({ status: 200, requestId: 'trace-0001.chat:7' })
    expect(await hopsThatLogged(hops, 'trace-0001.chat:7')).toEqual(both)
  })

  it('npm run logs finds the request in both logs, in the order it went through them', () => {
    const logs = Object.entries(hops).map(([name, workload]) => ({
      namespace: 'lab',
      pod: `${name}-0`,
      container: name,
      text: workload.output(),
    }))
    const lines = linesOfRequest(logs, 'trace-0001.chat:7')
    expect(new Set(lines.map((l) => l.service))).toEqual(new Set(both))
    // One access line a hop, ordered by when the hop took the request: the entry hop first,
    // though it answered last.
    expect(lines.map((l) => l.service)).toEqual([entryName, 'model-server'])
    expect(lines[0]!.time).toBeGreaterThanOrEqual(lines[1]!.time)
  })

  it('a streamed answer carries it too', async () => {
    const answer = await complete(entry, { 'x-request-id': 'stream-0002' }, true)
    expect(answer).toEqual({ status: 200, requestId: 'stream-0002' })
    expect(await hopsThatLogged(hops, 'stream-0002')).toEqual(both)
  })

  it('makes one when the client sends none, and replaces one that is not safe to log', async () => {
    const sent: Record<string, string>[] = [{}, { 'x-request-id': 'two words"}' }]
    for (const headers of sent) {
      const { status, requestId } = await complete(entry, headers)
      expect(status).toBe(200)
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
      expect(await hopsThatLogged(hops, requestId!)).toEqual(both)
    }
  })

  it('each line names its service; health probes and scrapes are not logged', async () => {
    await fetch(`${modelServer.url}/metrics`)
    await fetch(`${modelServer.url}/health`)
    for (const [service, workload] of Object.entries(hops)) {
      const lines = logLines(workload)
      expect(new Set(lines.map((line) => line.service))).toEqual(new Set([service]))
      const urls = lines.map((line) => (line.req as { url?: string } | undefined)?.url).filter(Boolean)
      expect(urls.filter((url) => /^\/(health|ready|metrics)/.test(url!))).toEqual([])
    }
  })
})
