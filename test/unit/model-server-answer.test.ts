import { describe, expect, it } from 'vitest'
import { planAnswer } from '../../workloads/model-server/answer.ts'
import type { AnswerSettings } from '../../workloads/model-server/answer.ts'
import { HttpError } from '../../workloads/shared/errors.ts'

const random: AnswerSettings = { mode: 'random', seed: 0, maxTokensDefault: 16, maxModelLen: 100 }
const echo: AnswerSettings = { ...random, mode: 'echo' }
const prompt = (text: string) => ({ text, echo: text })

describe('model-server answers', () => {
  it('in random mode generates exactly max_tokens words, finishing by length', () => {
    const answer = planAnswer(prompt('Tell me a story'), 7, random)
    expect(answer.prompt).toEqual(['Tell', 'me', 'a', 'story'])
    expect(answer.output).toHaveLength(7)
    expect(answer.finishReason).toBe('length')
  })

  it('in random mode without max_tokens stops on its own, within the default length', () => {
    for (const text of ['a', 'b c', 'd e f', 'g h i j']) {
      const answer = planAnswer(prompt(text), null, random)
      expect(answer.finishReason).toBe('stop')
      expect(answer.output.length).toBeGreaterThanOrEqual(1)
      expect(answer.output.length).toBeLessThanOrEqual(16)
    }
  })

  it('answers the same request the same way, and differently for another prompt or seed', () => {
    const answer = planAnswer(prompt('a prompt'), 32, random).output
    expect(planAnswer(prompt('a prompt'), 32, random).output).toEqual(answer)
    expect(planAnswer(prompt('another prompt'), 32, random).output).not.toEqual(answer)
    expect(planAnswer(prompt('a prompt'), 32, { ...random, seed: 1 }).output).not.toEqual(answer)
  })

  it('in echo mode repeats the echo text, cut at max_tokens', () => {
    const whole = planAnswer({ text: 'user: say it back\nassistant:', echo: 'say it back' }, 10, echo)
    expect(whole).toMatchObject({ output: ['say', 'it', 'back'], finishReason: 'stop' })
    const cut = planAnswer(prompt('one two three four'), 2, echo)
    expect(cut).toMatchObject({ output: ['one', 'two'], finishReason: 'length' })
  })

  it('refuses a prompt and answer longer than the context, naming the limit', () => {
    const call = () => planAnswer(prompt('word '.repeat(95)), 10, random)
    expect(call).toThrow(HttpError)
    expect(call).toThrow(
      /maximum context length is 100 tokens\. However, you requested 105 tokens \(95 in the messages, 10 in the completion\)/,
    )
  })

  it('refuses an empty prompt', () => {
    expect(() => planAnswer(prompt('  '), 5, random)).toThrow(/cannot be empty/)
  })
})
