// The GPU memory calculator's formulas on worked examples, each computed by hand in its comment.
import { describe, expect, it } from 'vitest'
import {
  estimate,
  kvElementsPerLayer,
  MODELS,
  type Deployment,
  type ModelShape,
} from '../../docs/.vitepress/theme/gpu-memory.ts'

const model = (name: string): ModelShape => MODELS.find((m) => m.name === name)!

const h100: Pick<Deployment, 'gpuMemoryGB' | 'gpusPerNode' | 'overheadFraction'> = {
  gpuMemoryGB: 80,
  gpusPerNode: 8,
  overheadFraction: 0.1,
}

describe('GPU memory', () => {
  it('caches a key and a value per KV head, or one latent and its RoPE key (MLA)', () => {
    expect(kvElementsPerLayer({ kind: 'heads', kvHeads: 8, headDim: 128 })).toBe(2048)
    expect(kvElementsPerLayer({ kind: 'latent', latentDim: 512, ropeDim: 64 })).toBe(576)
  })

  it('Llama-3-70B in BF16, 16 sequences of 8,192 tokens: 3 H100s on one node', () => {
    const result = estimate(model('Llama-3-70B'), {
      ...h100,
      bytesPerParam: 2,
      kvBytes: 2,
      contextLength: 8192,
      batch: 16,
    })
    // 70.6 B × 2 bytes = 141.2 GB of weights.
    expect(result.weightsGB).toBeCloseTo(141.2, 6)
    // 2 × 80 layers × 8 KV heads × 128 × 2 bytes = 327,680 bytes a token.
    expect(result.kvBytesPerToken).toBe(327_680)
    // × 8,192 tokens × 16 sequences = 42.95 GB.
    expect(result.kvCacheGB).toBeCloseTo(42.94967296, 6)
    // (141.2 + 42.95) × 1.1 = 202.56 GB → 2.53 GPUs of 80 GB → 3, on one node.
    expect(result.totalGB).toBeCloseTo(202.564640256, 6)
    expect(result.gpus).toBe(3)
    expect(result.nodes).toBe(1)
  })

  it('Llama-3.1-405B in BF16, 8 sequences of 8,192 tokens: 12 H100s, two nodes', () => {
    const result = estimate(model('Llama-3.1-405B'), {
      ...h100,
      bytesPerParam: 2,
      kvBytes: 2,
      contextLength: 8192,
      batch: 8,
    })
    // 405 B × 2 = 810 GB; 2 × 126 × 8 × 128 × 2 = 516,096 bytes a token, × 65,536 tokens = 33.82 GB.
    expect(result.weightsGB).toBeCloseTo(810, 6)
    expect(result.kvBytesPerToken).toBe(516_096)
    expect(result.kvCacheGB).toBeCloseTo(33.822867456, 6)
    // (810 + 33.82) × 1.1 = 928.2 GB → 11.6 → 12 GPUs → 2 nodes of 8.
    expect(result.totalGB).toBeCloseTo(928.2051542016, 6)
    expect(result.gpus).toBe(12)
    expect(result.nodes).toBe(2)
  })

  it('DeepSeek-R1 in FP8 with MLA, 8 sequences of 32,768 tokens: 10 H100s, two nodes', () => {
    const result = estimate(model('DeepSeek-R1'), {
      ...h100,
      bytesPerParam: 1,
      kvBytes: 2,
      contextLength: 32_768,
      batch: 8,
    })
    // 671 GB of FP8 weights; 61 layers × (512 + 64) × 2 bytes = 70,272 bytes a token, no factor
    // of 2 and no heads: MLA caches one latent per token, from which keys and values are rebuilt.
    expect(result.weightsGB).toBeCloseTo(671, 6)
    expect(result.kvBytesPerToken).toBe(70_272)
    expect(result.kvCacheGB).toBeCloseTo(18.421383168, 6)
    // (671 + 18.42) × 1.1 = 758.4 GB → 9.48 → 10 GPUs → 2 nodes.
    expect(result.gpus).toBe(10)
    expect(result.nodes).toBe(2)
  })

  it('an exact fit needs no extra GPU', () => {
    const exact: ModelShape = {
      name: 'exact',
      paramsBillions: 80,
      layers: 1,
      kv: { kind: 'heads', kvHeads: 0, headDim: 0 },
    }
    const result = estimate(exact, {
      ...h100,
      overheadFraction: 0,
      bytesPerParam: 2,
      kvBytes: 2,
      contextLength: 1,
      batch: 1,
    })
    expect(result.totalGB).toBeCloseTo(160, 9)
    expect(result.gpus).toBe(2)
  })
})
