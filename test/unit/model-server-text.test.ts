import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../workloads/model-server/random.ts'
import { countTokens, detokenize, randomTokens, tokenize } from '../../workloads/model-server/text.ts'

describe('model-server text', () => {
  it('counts words and punctuation as tokens', () => {
    expect(countTokens('Hello, world!')).toBe(4)
    expect(countTokens('  ')).toBe(0)
    expect(countTokens('naïve café 42')).toBe(3)
    expect(tokenize('Hello, world!')).toEqual(['Hello', ',', 'world', '!'])
  })

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
    expect(countTokens(detokenize(words, true))).toBe(32)
  })
})
