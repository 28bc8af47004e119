// How much GPU memory a model needs to serve, and so how many GPUs and nodes: the arithmetic
// behind the GPU memory calculator (GpuMemoryCalculator.vue), kept apart from it so the
// formulas are unit-tested (test/unit/gpu-memory.test.ts). Sizes are decimal: 1 GB = 10^9 bytes.

/** How a model's attention caches keys and values for each token, in each layer. */
export type KvLayout =
  /** Multi-head or grouped-query attention: a key and a value vector per KV head. */
  | { kind: 'heads'; kvHeads: number; headDim: number }
  /**
   * Multi-head latent attention (DeepSeek-V2, V3, R1): one compressed latent vector of
   * `latentDim` values plus one decoupled RoPE key of `ropeDim` values, shared by all heads.
   */
  | { kind: 'latent'; latentDim: number; ropeDim: number }

export interface ModelShape {
  name: string
  /** Parameters, in billions. */
  paramsBillions: number
  layers: number
  kv: KvLayout
}

export interface Deployment {
  /** Bytes per weight: 2 for FP16/BF16, 1 for FP8 or INT8, 0.5 for 4-bit. */
  bytesPerParam: number
  /** Bytes per cached key or value element: 2 for an FP16/BF16 cache, 1 for FP8. */
  kvBytes: number
  /** Tokens per sequence, prompt and answer together. */
  contextLength: number
  /** Sequences held at once. */
  batch: number
  /** Activations, CUDA graphs, the runtime, fragmentation: a share of weights + KV cache (0.1 = 10 %). */
  overheadFraction: number
  gpuMemoryGB: number
  gpusPerNode: number
}

export interface Estimate {
  weightsGB: number
  /** KV cache bytes for one token, all layers together. */
  kvBytesPerToken: number
  kvCacheGB: number
  totalGB: number
  gpus: number
  nodes: number
}

const GB = 1e9

/** Values cached per token per layer: 2 × KV heads × head size (a key and a value), or the latent and its RoPE key. */
export function kvElementsPerLayer(kv: KvLayout): number {
  return kv.kind === 'heads' ? 2 * kv.kvHeads * kv.headDim : kv.latentDim + kv.ropeDim
}

export function estimate(model: ModelShape, deployment: Deployment): Estimate {
  const weightsGB = (model.paramsBillions * 1e9 * deployment.bytesPerParam) / GB
  const kvBytesPerToken = model.layers * kvElementsPerLayer(model.kv) * deployment.kvBytes
  const kvCacheGB = (kvBytesPerToken * deployment.contextLength * deployment.batch) / GB
  const totalGB = (weightsGB + kvCacheGB) * (1 + deployment.overheadFraction)
  const gpus = Math.ceil(totalGB / deployment.gpuMemoryGB - 1e-9)
  return {
    weightsGB,
    kvBytesPerToken,
    kvCacheGB,
    totalGB,
    gpus,
    nodes: Math.ceil(gpus / deployment.gpusPerNode),
  }
}

/**
 * The presets, from each model's config.json on Hugging Face (num_hidden_layers,
 * num_key_value_heads, hidden_size / num_attention_heads; DeepSeek's kv_lora_rank and
 * qk_rope_head_dim) and its published parameter count.
 */
export const MODELS: readonly ModelShape[] = [
  // meta-llama/Meta-Llama-3-70B: 80 layers, 64 heads of 128 (hidden 8192), 8 KV heads; 70.6 B parameters.
  { name: 'Llama-3-70B', paramsBillions: 70.6, layers: 80, kv: { kind: 'heads', kvHeads: 8, headDim: 128 } },
  // meta-llama/Llama-3.1-405B: 126 layers, 128 heads of 128 (hidden 16384), 8 KV heads.
  { name: 'Llama-3.1-405B', paramsBillions: 405, layers: 126, kv: { kind: 'heads', kvHeads: 8, headDim: 128 } },
  // deepseek-ai/DeepSeek-R1 (DeepSeek-V3's architecture): 61 layers, MLA with kv_lora_rank 512
  // and qk_rope_head_dim 64; 671 B parameters (37 B active per token), weights in FP8.
  { name: 'DeepSeek-R1', paramsBillions: 671, layers: 61, kv: { kind: 'latent', latentDim: 512, ropeDim: 64 } },
]

export const PRECISIONS: readonly { name: string; bytes: number }[] = [
  { name: 'FP16 / BF16', bytes: 2 },
  { name: 'FP8 / INT8', bytes: 1 },
  { name: 'INT4', bytes: 0.5 },
]

export const GPUS: readonly { name: string; memoryGB: number }[] = [
  { name: 'H100 80GB', memoryGB: 80 },
  { name: 'H200', memoryGB: 141 },
  { name: 'A100 80GB', memoryGB: 80 },
  { name: 'A100 40GB', memoryGB: 40 },
]
