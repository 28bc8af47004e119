import { createHash } from 'node:crypto'

/**
 * The names of a prompt's KV cache blocks, as the model server's prefix cache gives them: one
 * hash per full block of `blockSize` tokens (a last partial block has none), each over the
 * previous block's hash and its own tokens, so the hash of block i covers blocks 0..i and two
 * prompts share a block only if everything before it matches too (vLLM's chain, with SHA-256 in
 * base64 for its hash function). A frontend that tokenizes a request with `prompt.ts` and calls
 * this gets the very hashes the server announces in its KV events.
 */
export function blockHashes(tokens: readonly string[], blockSize: number): string[] {
  const hashes: string[] = []
  let parent = ''
  for (let start = 0; start + blockSize <= tokens.length; start += blockSize) {
    // Tokens never contain whitespace, so joining with a space is unambiguous.
    parent = createHash('sha256')
      .update(parent)
      .update('\n')
      .update(tokens.slice(start, start + blockSize).join(' '))
      .digest('base64')
    hashes.push(parent)
  }
  return hashes
}
