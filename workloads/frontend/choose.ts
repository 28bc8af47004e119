import type { FastifyBaseLogger } from 'fastify'
import { createPolicy } from '../router/policies/index.ts'
import type { RouteRequest } from '../router/policies/policy.ts'
import { kvCost, pickByCost } from './cost.ts'
import type { FrontendPolicyName } from './config.ts'
import type { Tracked } from './fleet.ts'
import type { KvIndex } from './kv-index.ts'

/** What choosing a backend reads of a request. */
export interface Routed {
  /** What the router's policies read: the session and the prompt as text. */
  readonly route: RouteRequest
  /** Prompt tokens of every sequence the request asks for. */
  readonly promptTokens: number
  /** The block-hash chain of its (first) prompt for a block size. */
  chain(blockSize: number): readonly string[]
}

export interface Choice {
  tracked: Tracked
  /** Leading prompt blocks the chosen backend holds (kv policy; 0 otherwise). */
  overlapBlocks: number
}

/**
 * Picks one of the candidates (never empty: backends in service and not saturated) for a
 * request, and records the choice in what it predicts (the KV index's blocks).
 */
export interface Chooser {
  choose(request: Routed, candidates: readonly Tracked[]): Choice
}

export interface ChooserOptions {
  kvIndex: KvIndex | null
  overlapWeight: number
  temperature: number
  log: FastifyBaseLogger
  random?: () => number
}

/** The `kv` cost, or one of the router's policies over the same candidates. */
export function createChooser(name: FrontendPolicyName, options: ChooserOptions): Chooser {
  if (name === 'kv') return kvChooser(options)
  const policy = createPolicy(name)
  return {
    choose(request, candidates) {
      const backend = policy.pick(
        candidates.map((t) => t.backend),
        request.route,
      )
      return { tracked: candidates.find((t) => t.backend === backend)!, overlapBlocks: 0 }
    },
  }
}

/**
 * Dynamo's KV-aware choice: each candidate's cost is its prefill work left (the prompt minus
 * the blocks it already holds) weighted against its decode load (blocks in use plus the
 * request's); the lowest wins, or one is sampled with a temperature. The prompt's blocks then
 * count as held by the chosen backend, so the next request with the same prefix follows it
 * before the backend's own events say so.
 */
function kvChooser({ kvIndex, overlapWeight, temperature, log, random }: ChooserOptions): Chooser {
  if (!kvIndex) throw new Error('the kv policy needs a KV index')
  return {
    choose(request, candidates) {
      const scored = candidates.map((tracked) => {
        const blockSize = kvIndex.blockSizeOf(tracked.address) ?? tracked.load.blockSize
        const chain = request.chain(blockSize)
        const overlapBlocks = kvIndex.overlap(tracked.address, chain)
        const cost = kvCost(
          { promptTokens: request.promptTokens, overlapBlocks, blockSize, activeBlocks: tracked.load.activeBlocks },
          overlapWeight,
        )
        return { tracked, chain, overlapBlocks, ...cost }
      })
      if (log.level === 'debug' || log.level === 'trace') {
        for (const s of scored) {
          log.debug(
            { backend: s.tracked.address, cost: s.cost, prefillBlocks: s.prefillBlocks, decodeBlocks: s.decodeBlocks },
            `Formula for ${s.tracked.address}: ${s.cost.toFixed(1)} = ${overlapWeight} * ${s.prefillBlocks.toFixed(1)} + ${s.decodeBlocks.toFixed(1)} (cached_blocks: ${s.overlapBlocks})`,
          )
        }
      }
      const chosen =
        scored[
          pickByCost(
            scored.map((s) => s.cost),
            temperature,
            random,
          )
        ]!
      kvIndex.predict(chosen.tracked.address, chosen.chain)
      return { tracked: chosen.tracked, overlapBlocks: chosen.overlapBlocks }
    },
  }
}
