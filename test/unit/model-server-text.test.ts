import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../workloads/model-server/random.ts'
import { tokenize } from '../../workloads/shared/prompt.ts'
import { detokenize, randomTokens } from '../../workloads/model-server/text.ts'

describe('model-server text', () => {
  it('writes tokens back as text that tokenizes to the same tokens', () => {
    const tokens = tokenize('Hello, world! It is 42.')
    expect(detokenize(tokens, false)).toBe('Hello, world! It is 42.')
    expect(detokenize(tokens, true)).toBe(' Hello, world! It is 42.')
    expect(tokenize(detokenize(tokens, true))).toEqual(tokens)
  })

  it('draws the same words from the same seed, and other words from another', () => {
    const words = randomTokens(32, seededRandom(7))
    expect(words).toHaveLength(32)
    expect(randomTokens(32, seededRandom(7))).toEqual(words)
    expect(randomTokens(32, seededRandom(8))).not.toEqual(words)
    expect(tokenize(detokenize(words, true))).toHaveLength(32)
  })
})
