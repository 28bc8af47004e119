import { parseSamples } from '../shared/prometheus-text.ts'

/** What the frontend reads in one scrape of a model server's `/metrics`. */
export interface BackendReport {
  /** `vllm:num_requests_running`, summed over models. */
  running: number
  /** `vllm:num_requests_waiting`, summed over models. */
  waiting: number
  /** `vllm:kv_cache_usage_perc`, 0 to 1. */
  kvCacheUsage: number
  /** From `vllm:cache_config_info`; null when the server does not export it. */
  blockSize: number | null
  numGpuBlocks: number | null
  /** The live max-num-seqs gauge; null when the server does not export it (vLLM does not). */
  maxNumSeqs: number | null
  /** The `model_name` labels seen: the models this backend serves. */
  models: string[]
}

/** The model server's gauge of its live max-num-seqs (the lab's; vLLM has none). */
export const maxNumSeqsMetric = 'serving_lab_max_num_seqs'

/**
 * The few series the frontend needs, from Prometheus's text format. Lines it does not know are
 * skipped, so a server with more metrics (any vLLM) reads the same; null when the text has none
 * of vLLM's request gauges, which is not a model server's answer.
 */
export function parseBackendReport(text: string): BackendReport | null {
  const report: BackendReport = {
    running: 0,
    waiting: 0,
    kvCacheUsage: 0,
    blockSize: null,
    numGpuBlocks: null,
    maxNumSeqs: null,
    models: [],
  }
  const models = new Set<string>()
  let found = false
  const wanted = (name: string) => name.startsWith('vllm:') || name === maxNumSeqsMetric
  for (const { name, labels, value } of parseSamples(text, wanted)) {
    if (labels.model_name) models.add(labels.model_name)
    switch (name) {
      case 'vllm:num_requests_running':
        report.running += value
        found = true
        break
      case 'vllm:num_requests_waiting':
        report.waiting += value
        found = true
        break
      case 'vllm:kv_cache_usage_perc':
        report.kvCacheUsage = Math.max(report.kvCacheUsage, value)
        break
      case 'vllm:cache_config_info':
        report.blockSize = positiveInteger(labels.block_size) ?? report.blockSize
        report.numGpuBlocks = positiveInteger(labels.num_gpu_blocks) ?? report.numGpuBlocks
        break
      case maxNumSeqsMetric:
        report.maxNumSeqs = value >= 1 ? Math.floor(value) : report.maxNumSeqs
        break
    }
  }
  report.models = [...models].sort()
  return found ? report : null
}

function positiveInteger(raw: string | undefined): number | null {
  if (raw === undefined || !/^\d+$/.test(raw)) return null
  const value = Number(raw)
  return value >= 1 ? value : null
}
