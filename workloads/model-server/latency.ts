import { normalSample } from './random.ts'
import type { Random } from './random.ts'
import type { ModelServerConfig } from './config.ts'

export type LatencySettings = Pick<
  ModelServerConfig,
  | 'timeToFirstTokenMs'
  | 'timeToFirstTokenStdDevMs'
  | 'prefillTimePerTokenMs'
  | 'interTokenLatencyMs'
  | 'interTokenLatencyStdDevMs'
  | 'loadSlowdown'
  | 'maxNumSeqs'
>

/** How long the model takes, in milliseconds: the two questions the engine asks. */
export interface LatencyModel {
  /** Prefill: only prompt tokens the prefix cache did not hold are computed. */
  timeToFirstTokenMs(uncachedPromptTokens: number): number
  /** One decode step while `running` sequences share the batch. */
  interTokenLatencyMs(running: number): number
}

/**
 * TTFT = base + per-token prefill × uncached prompt tokens; ITL = base × (1 + slowdown ×
 * running / max-num-seqs), since a fuller batch makes every decode step slower. Each draws its
 * jitter from `random`; with zero standard deviations the model is deterministic.
 */
export function createLatencyModel(settings: LatencySettings, random: Random): LatencyModel {
  return {
    timeToFirstTokenMs(uncachedPromptTokens) {
      const base = normalSample(random, settings.timeToFirstTokenMs, settings.timeToFirstTokenStdDevMs)
      return Math.max(0, base) + settings.prefillTimePerTokenMs * uncachedPromptTokens
    },
    interTokenLatencyMs(running) {
      const base = normalSample(random, settings.interTokenLatencyMs, settings.interTokenLatencyStdDevMs)
      const load = Math.min(1, running / settings.maxNumSeqs)
      return Math.max(0, base) * (1 + settings.loadSlowdown * load)
    },
  }
}
