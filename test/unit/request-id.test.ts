import { describe, expect, it } from 'vitest'
import { requestIdOf } from '../../workloads/shared/request-id.ts'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('requestIdOf', () => {
  it("keeps a client's sane id", () => {
    expect(requestIdOf({ headers: { 'x-request-id': 'chat-42.turn:3' } })).toBe('chat-42.turn:3')
    expect(requestIdOf({ headers: { 'x-request-id': '0af7651916cd43dd8448eb211c80319c' } })).toBe(
      '0af7651916cd43dd8448eb211c80319c',
    )
  })

  it('makes a new one when there is none', () => {
    const made = requestIdOf({ headers: {} })
    expect(made).toMatch(uuid)
    expect(requestIdOf({ headers: {} })).not.toBe(made)
  })

  it('replaces one that could forge or flood a log line: spaces, quotes, newlines, over 128 characters, empty', () => {
    for (const sent of ['a b', 'x"}{"level":60', 'line\nbreak', 'a'.repeat(129), '', 'ünïcode']) {
      expect(requestIdOf({ headers: { 'x-request-id': sent } }), JSON.stringify(sent)).toMatch(uuid)
    }
    expect(requestIdOf({ headers: { 'x-request-id': 'a'.repeat(128) } })).toBe('a'.repeat(128))
  })

  it('replaces a header sent twice, which Node joins into one with a comma', () => {
    expect(requestIdOf({ headers: { 'x-request-id': 'one, two' } })).toMatch(uuid)
  })
})
