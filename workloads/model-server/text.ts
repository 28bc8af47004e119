/**
 * Token counting and text generation for the simulator. There is no real tokenizer: every run
 * of letters or digits, and every other non-space character, counts as one token. Real BPE
 * tokenizers split long words further, so real counts run a little higher; the simulator only
 * needs counts that grow with the text and agree with the text it generates.
 */
export function countTokens(text: string): number {
  return text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu)?.length ?? 0
}

const vocabulary = [
  'the', 'model', 'serves', 'tokens', 'across', 'nodes', 'with', 'tensor', 'parallel', 'ranks',
  'and', 'a', 'cache', 'of', 'keys', 'values', 'per', 'layer', 'while', 'requests', 'wait',
  'in', 'queue', 'for', 'their', 'turn', 'on', 'each', 'GPU', 'batch', 'decode', 'step',
]

/**
 * Exactly `tokens` words (one token each, by `countTokens`), each with a leading space as a
 * real completion continues its prompt. Seeded by the server's seed and the prompt, so the same
 * request always gets the same text.
 */
export function generateText(prompt: string, tokens: number, seed: number): string {
  const next = mulberry32(seed ^ fnv1a(prompt))
  let text = ''
  for (let i = 0; i < tokens; i++) text += ' ' + vocabulary[Math.floor(next() * vocabulary.length)]
  return text
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

/** A small, well-known seeded generator of numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
