// A backend's load as the frontend estimates it between scrapes, when it counts as saturated, and
// what it reads of a model server's metrics.
import { describe, expect, it } from 'vitest'
import { parseBackendReport } from '../../workloads/frontend/backend-report.ts'
import type { BackendReport } from '../../workloads/frontend/backend-report.ts'
import { BackendLoad } from '../../workloads/frontend/load.ts'

const report = (fields: Partial<BackendReport> = {}): BackendReport => ({
  running: 0,
  waiting: 0,
  kvCacheUsage: 0,
  blockSize: null,
  numGpuBlocks: null,
  maxNumSeqs: 4,
  models: ['m'],
  ...fields,
})

function load(settings: { queueThreshold?: number; stalenessMs?: number } = {}) {
  let now = 0
  const backend = new BackendLoad(
    {
      queueThreshold: settings.queueThreshold ?? 1,
      defaultMaxNumSeqs: 256,
      stalenessMs: settings.stalenessMs ?? 200,
      defaultBlockSize: 16,
    },
    () => now,
  )
  return { backend, at: (ms: number) => (now = ms) }
}

describe('BackendLoad', () => {
  it('is saturated before its first report: no metrics, no requests', () => {
    const { backend } = load()
    expect(backend.saturated).toBe(true)
    backend.reported(report(), backend.mark())
    expect(backend.saturated).toBe(false)
  })

  it('counts stale metrics as saturated, whatever they said', () => {
    const { backend, at } = load({ stalenessMs: 200 })
    backend.reported(report({ running: 0 }), backend.mark())
    at(200)
    expect(backend.saturated).toBe(false)
    at(201)
    expect(backend.stale).toBe(true)
    expect(backend.saturated).toBe(true)
    backend.reported(report({ running: 0 }), backend.mark())
    expect(backend.saturated).toBe(false)
  })

  it('is saturated at running + waiting ≥ threshold × max-num-seqs', () => {
    const { backend } = load({ queueThreshold: 1.5 })
    backend.reported(report({ running: 4, waiting: 1, maxNumSeqs: 4 }), backend.mark())
    expect(backend.saturated).toBe(false) // 5 < 6
    backend.reported(report({ running: 4, waiting: 2, maxNumSeqs: 4 }), backend.mark())
    expect(backend.saturated).toBe(true) // 6 ≥ 6
  })

  it('adds what it sent since the scrape was sent, and takes off what finished since', () => {
    const { backend } = load()
    backend.reported(report({ running: 1, maxNumSeqs: 4 }), backend.mark())
    backend.dispatched(2)
    backend.dispatched(2)
    expect(backend.requests).toBe(3)
    backend.dispatched(2)
    expect(backend.saturated).toBe(true)
    backend.finished(2)
    expect(backend.requests).toBe(3)
    expect(backend.saturated).toBe(false)
  })

  it('counts only what happened after the mark: a scrape in flight already saw earlier dispatches', () => {
    const { backend } = load()
    backend.reported(report({ running: 0 }), backend.mark())
    backend.dispatched(1)
    const mark = backend.mark()
    backend.dispatched(1)
    // The server saw the first one; the second was sent after the scrape left.
    backend.reported(report({ running: 1 }), mark)
    expect(backend.requests).toBe(2)
  })

  it('never estimates fewer requests than it has in flight itself', () => {
    const { backend } = load()
    backend.dispatched(1)
    backend.dispatched(1)
    backend.reported(report({ running: 0 }), backend.mark())
    expect(backend.requests).toBe(2)
  })

  it('estimates KV blocks in use from usage × blocks plus the prompts sent since', () => {
    const { backend } = load()
    backend.reported(report({ kvCacheUsage: 0.25, numGpuBlocks: 100, blockSize: 32 }), backend.mark())
    expect(backend.activeBlocks).toBe(25)
    backend.dispatched(5)
    expect(backend.activeBlocks).toBe(30)
    expect(backend.blockSize).toBe(32)
  })

  it("takes the defaults when the backend's metrics do not say", () => {
    const { backend } = load()
    backend.reported(report({ maxNumSeqs: null }), backend.mark())
    expect(backend.maxNumSeqs).toBe(256)
    expect(backend.blockSize).toBe(16)
  })
})

describe('parseBackendReport', () => {
  it("reads vLLM's gauges and cache config, summed over models, and skips everything else", () => {
    const text = [
      '# HELP vllm:num_requests_running Number of requests in model execution batches.',
      '# TYPE vllm:num_requests_running gauge',
      'vllm:num_requests_running{model_name="a"} 3',
      'vllm:num_requests_running{model_name="b"} 1',
      'vllm:num_requests_waiting{model_name="a"} 2',
      'vllm:kv_cache_usage_perc{model_name="a"} 0.5',
      'vllm:cache_config_info{block_size="32",num_gpu_blocks="1000",model_name="a"} 1',
      'vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="a"} 7',
      'serving_lab_max_num_seqs{model_name="a"} 8',
      'process_cpu_seconds_total 12',
    ].join('\n')
    expect(parseBackendReport(text)).toEqual({
      running: 4,
      waiting: 2,
      kvCacheUsage: 0.5,
      blockSize: 32,
      numGpuBlocks: 1000,
      maxNumSeqs: 8,
      models: ['a', 'b'],
    })
  })

  it("is null for a text with none of vLLM's request gauges", () => {
    expect(parseBackendReport('process_cpu_seconds_total 12\n')).toBeNull()
    expect(parseBackendReport('<html>not metrics</html>')).toBeNull()
  })
})
