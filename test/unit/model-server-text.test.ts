import { describe, expect, it } from 'vitest'
import { countTokens, generateText } from '../../workloads/model-server/text.ts'

describe('model-server text', () => {
  it('counts words and punctuation as tokens', () => {
    expect(countTokens('Hello, world!')).toBe(4)
    expect(countTokens('  ')).toBe(0)
    expect(countTokens('naïve café 42')).toBe(3)
  })

  it('generates exactly the requested number of tokens', () => {
    for (const tokens of [1, 16, 100]) expect(countTokens(generateText('a prompt', tokens, 0))).toBe(tokens)
  })

  it('answers the same request the same way, and differently for another prompt or seed', () => {
    const text = generateText('a prompt', 32, 7)
    expect(generateText('a prompt', 32, 7)).toBe(text)
    expect(generateText('another prompt', 32, 7)).not.toBe(text)
    expect(generateText('a prompt', 32, 8)).not.toBe(text)
  })
})
