/** What the cost of sending one request to one backend is computed from. */
export interface CostInputs {
  /** The request's prompt tokens. */
  promptTokens: number
  /** Leading blocks of the prompt the backend already holds. */
  overlapBlocks: number
  blockSize: number
  /** KV blocks the backend has in use now. */
  activeBlocks: number
}

export interface Cost {
  /** Blocks of the prompt the backend would still have to prefill. */
  prefillBlocks: number
  /** Blocks the backend would hold while decoding: its active ones plus those this request adds. */
  decodeBlocks: number
  /** overlapWeight × prefillBlocks + decodeBlocks; lower is better. */
  cost: number
}

/**
 * NVIDIA Dynamo's KV router cost, in the form its router README gave it (Dynamo 0.6):
 *
 *   cost = kv_overlap_score_weight × prefill_blocks + decode_blocks
 *   prefill_blocks = (prompt tokens − overlap blocks × block size) / block size
 *   decode_blocks  = the worker's active blocks + the request's blocks it does not hold yet
 *
 * Blocks a worker already holds are shared, as paged attention shares them (Dynamo counts a
 * worker's active blocks by hash, once each), so a cached prefix adds nothing to the second
 * term either. The first term is the prefill work left (the time to first token), the second the memory the
 * worker decodes over (the inter-token latency): a weight above 1 favours the cache, below 1
 * the load.
 */
export function kvCost(inputs: CostInputs, overlapWeight: number): Cost {
  const { promptTokens, overlapBlocks, blockSize, activeBlocks } = inputs
  const prefillBlocks = Math.max(0, promptTokens - overlapBlocks * blockSize) / blockSize
  const decodeBlocks = activeBlocks + Math.max(0, Math.ceil(promptTokens / blockSize) - overlapBlocks)
  return { prefillBlocks, decodeBlocks, cost: overlapWeight * prefillBlocks + decodeBlocks }
}

/**
 * The index of the backend to pick from their costs. Temperature 0: the lowest cost, the first
 * among equals. Above 0, Dynamo's softmax sampling: the costs are normalised to [0, 1] (so the
 * temperature means the same whatever their scale), and backend i is drawn with probability
 * ∝ exp(−normalised_i / temperature); higher temperatures spread load more evenly.
 */
export function pickByCost(costs: readonly number[], temperature: number, random: () => number = Math.random): number {
  if (costs.length === 0) throw new RangeError('no costs to pick from')
  const lowest = Math.min(...costs)
  if (temperature === 0) return costs.indexOf(lowest)
  const range = Math.max(...costs) - lowest
  const weights = costs.map((cost) => Math.exp(-(range === 0 ? 0 : (cost - lowest) / range) / temperature))
  let draw = random() * weights.reduce((sum, w) => sum + w, 0)
  for (let i = 0; i < weights.length; i++) {
    draw -= weights[i]!
    if (draw < 0) return i
  }
  return weights.length - 1
}
