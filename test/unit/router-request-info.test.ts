import { describe, expect, it } from 'vitest'
import { routeRequest } from '../../workloads/router/request-info.ts'

describe('what the policies read of a request', () => {
  it('takes the session from the affinity header, else the body’s user', () => {
    expect(routeRequest({ 'x-session-id': 'abc' }, { user: 'u1', prompt: 'p' }, 'x-session-id').sessionKey).toBe('abc')
    expect(routeRequest({}, { user: 'u1', prompt: 'p' }, 'x-session-id').sessionKey).toBe('u1')
    expect(routeRequest({}, { user: 42, prompt: 'p' }, 'x-session-id').sessionKey).toBeNull()
  })

  it('reads a completion’s prompt, a list of prompts, and a chat’s messages in order', () => {
    expect(routeRequest({}, { prompt: 'hello' }, 'x').prompt).toBe('hello')
    expect(routeRequest({}, { prompt: ['a', 'b'] }, 'x').prompt).toBe('a\nb')
    const chat = {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'image_url' }] },
      ],
    }
    expect(routeRequest({}, chat, 'x').prompt).toBe('system: Be brief.\nuser: Hi')
  })

  it('never throws on a body of the wrong shape', () => {
    for (const body of [null, undefined, 'text', 42, [1, 2], { prompt: 7 }, { messages: [null, 5] }]) {
      expect(() => routeRequest({}, body, 'x')).not.toThrow()
    }
    expect(routeRequest({}, { prompt: 7 }, 'x').prompt).toBeNull()
  })
})
