import { describe, expect, it } from 'vitest'
import { blockHashes } from '../../workloads/shared/block-hashes.ts'
import { renderChat, requestPromptTokens, requestPrompts, tokenize } from '../../workloads/shared/prompt.ts'

describe('shared prompt', () => {
  it('counts words and punctuation as tokens', () => {
    expect(tokenize('Hello, world!')).toEqual(['Hello', ',', 'world', '!'])
    expect(tokenize('  ')).toEqual([])
    expect(tokenize('naïve café 42')).toHaveLength(3)
  })

  it('renders a chat as one line per message, then the assistant turn', () => {
    const text = renderChat([
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hi ' },
          { type: 'text', text: 'there' },
        ],
      },
      { role: 'assistant', content: null },
    ])
    expect(text).toBe('system: Be brief.\nuser: Hi there\nassistant: \nassistant:')
  })

  it("gives each sequence's prompt: a completion's one or many, a chat's rendered conversation", () => {
    expect(requestPrompts('/v1/completions', { prompt: 'one' })).toEqual(['one'])
    expect(requestPrompts('/v1/completions', { prompt: ['one', 'two'] })).toEqual(['one', 'two'])
    const messages = [{ role: 'user', content: 'hello' }]
    expect(requestPrompts('/v1/chat/completions', { messages })).toEqual([renderChat(messages)])
    expect(requestPromptTokens('/v1/completions', { prompt: ['a b', 'c'] })).toEqual([['a', 'b'], ['c']])
  })

  it('gives null, never throws, for a body the model server would refuse or another path', () => {
    for (const [path, body] of [
      ['/v1/completions', null],
      ['/v1/completions', 'text'],
      ['/v1/completions', { prompt: 42 }],
      ['/v1/completions', { prompt: [] }],
      ['/v1/completions', { prompt: ['a', 1] }],
      ['/v1/chat/completions', { messages: 'hi' }],
      ['/v1/chat/completions', { messages: [] }],
      ['/v1/chat/completions', { messages: [{ content: 'no role' }] }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }],
      ['/v1/chat/completions', { messages: [null] }],
      ['/v1/models', { prompt: 'x' }],
    ] as const) {
      expect(requestPrompts(path, body), JSON.stringify([path, body])).toBeNull()
    }
  })
})

describe('shared block hashes', () => {
  const tokens = (count: number, prefix = 't') => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

  it('names full blocks only', () => {
    expect(blockHashes(tokens(3), 4)).toEqual([])
    expect(blockHashes(tokens(4), 4)).toHaveLength(1)
    expect(blockHashes(tokens(11), 4)).toHaveLength(2)
  })

  it('chains each hash to the blocks before it', () => {
    const a = blockHashes([...tokens(4, 'a'), ...tokens(4, 'b')], 4)
    const b = blockHashes([...tokens(4, 'z'), ...tokens(4, 'b')], 4)
    expect(b[1]).not.toBe(a[1]) // same tokens in block 1, different block 0
    expect(blockHashes([...tokens(4, 'a'), ...tokens(4, 'c')], 4)[0]).toBe(a[0])
    expect(new Set(a).size).toBe(2)
  })

  it('depends on where tokens are split into blocks, not only on the tokens', () => {
    expect(blockHashes(tokens(8), 4)[1]).not.toBe(blockHashes(tokens(8), 8)[0])
  })
})
