import type { Agent } from 'node:http'
import type { ChatMessage } from '../../workloads/shared/prompt.ts'
import { closedLoop } from './load.ts'
import { streamed } from './stream.ts'

/** The shape of the chat workload: a few long system prompts shared by many multi-turn conversations. */
export const chatShape = {
  systemPrompts: 3,
  systemPromptWords: 300,
  conversations: 36,
  turns: 6,
  /** Conversations under way at once; each sends its next turn when the last is answered. */
  concurrency: 12,
  userMessageWords: 80,
  maxTokens: 32,
}

/** What one pass of the chat workload measured, as the client saw it. */
export interface ChatRun {
  /** Time to first token of every turn answered. */
  firstTokenMs: number[]
  failures: number
  outputTokens: number
  seconds: number
}

const systemPrompts = Array.from(
  { length: chatShape.systemPrompts },
  (_, s) => `You are assistant ${s}. ` + words(`s${s}w`, chatShape.systemPromptWords),
)

function words(stem: string, count: number): string {
  return Array.from({ length: count }, (_, i) => `${stem}${i}`).join(' ')
}

/**
 * Every conversation, `concurrency` at a time, through `/v1/chat/completions` streamed: each
 * turn's messages are the system prompt, the earlier turns with the answers they got, and a new
 * user message, as a chat client sends them.
 */
export async function runConversations(url: string, agent: Agent, model: string): Promise<ChatRun> {
  const firstTokenMs: number[] = []
  const load = await closedLoop(
    { concurrency: chatShape.concurrency, maxRequests: chatShape.conversations, durationMs: 600_000 },
    (n) => converse(url, agent, model, n, firstTokenMs),
  )
  return { firstTokenMs, failures: load.failures, outputTokens: load.work, seconds: load.seconds }
}

/** One conversation's turns in order; the tokens generated, or null if a turn failed. */
async function converse(
  url: string,
  agent: Agent,
  model: string,
  n: number,
  firstTokenMs: number[],
): Promise<number | null> {
  const messages: ChatMessage[] = [{ role: 'system', content: systemPrompts[n % systemPrompts.length]! }]
  let tokens = 0
  for (let turn = 0; turn < chatShape.turns; turn++) {
    messages.push({
      role: 'user',
      content: `Turn ${turn} of chat ${n}: ` + words(`c${n}t${turn}w`, chatShape.userMessageWords),
    })
    const body = {
      model,
      messages,
      max_tokens: chatShape.maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    }
    const answer = await streamed(url, '/v1/chat/completions', agent, body).catch(() => null)
    if (!answer) return null
    firstTokenMs.push(answer.firstTokenMs)
    tokens += answer.completionTokens
    messages.push({ role: 'assistant', content: answer.text })
  }
  return tokens
}
