import type { Socket } from 'node:net'
import type { GroupState } from './group.ts'

/** The rendezvous protocol: one JSON object per line, over one TCP connection per worker rank. */
export type Frame =
  /** leader → worker, first: a fresh nonce the worker proves it holds the group's secret with. */
  | { type: 'challenge'; nonce: string }
  /** worker → leader, in answer: who it is, what it expects the group to be, and its proof. */
  | {
      type: 'hello'
      nodeRank: number
      nnodes: number
      gpusPerNode: number
      model: string
      generation: number
      proof: string
    }
  /** leader → worker, then the leader closes: the worker does not fit this group. */
  | { type: 'refused'; reason: string }
  /** leader → every worker whenever the group changes. */
  | { type: 'status'; state: GroupState; generation: number; members: number[]; reason: string | null }
  | { type: 'heartbeat' }
  /** leader → worker, one per generated token; the worker answers with an ack of the same id. */
  | { type: 'step'; id: number }
  | { type: 'ack'; id: number }
  /** either way: leaving on purpose, so the other side need not wait for the heartbeat timeout. */
  | { type: 'goodbye'; reason: string }

const fields: Record<Frame['type'], Record<string, string>> = {
  challenge: { nonce: 'string' },
  hello: {
    nodeRank: 'number',
    nnodes: 'number',
    gpusPerNode: 'number',
    model: 'string',
    generation: 'number',
    proof: 'string',
  },
  refused: { reason: 'string' },
  status: { state: 'string', generation: 'number', members: 'array' },
  heartbeat: {},
  step: { id: 'number' },
  ack: { id: 'number' },
  goodbye: { reason: 'string' },
}

/** A frame from one line, or null when the line is not one. */
export function parseFrame(line: string): Frame | null {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const frame = value as Record<string, unknown>
  const expected = typeof frame.type === 'string' ? fields[frame.type as Frame['type']] : undefined
  if (!expected) return null
  for (const [key, type] of Object.entries(expected)) {
    if (type === 'array' ? !Array.isArray(frame[key]) : typeof frame[key] !== type) return null
  }
  return frame as unknown as Frame
}

/** Longest line accepted: a peer that sends more is not speaking this protocol. */
const maxLineBytes = 64 * 1024

/** A socket speaking frames: splits lines, parses them, and writes frames as lines. */
export class Connection {
  #buffer = ''

  constructor(
    readonly socket: Socket,
    onFrame: (frame: Frame) => void,
    onBadFrame: (line: string) => void,
  ) {
    socket.setEncoding('utf8')
    socket.setNoDelay(true)
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk
      let newline: number
      while ((newline = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, newline)
        this.#buffer = this.#buffer.slice(newline + 1)
        if (socket.destroyed) return
        const frame = parseFrame(line)
        if (frame) onFrame(frame)
        else onBadFrame(line.slice(0, 200))
      }
      if (this.#buffer.length > maxLineBytes) onBadFrame(this.#buffer.slice(0, 200))
    })
  }

  send(frame: Frame): void {
    if (this.socket.writable) this.socket.write(JSON.stringify(frame) + '\n')
  }

  /** Sends a last frame, then closes; resolves once closed, or after `timeoutMs` regardless. */
  async close(last: Frame | null, timeoutMs: number): Promise<void> {
    if (this.socket.destroyed) return
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()))
    if (last) this.send(last)
    this.socket.end()
    const timer = setTimeout(() => this.socket.destroy(), timeoutMs)
    await closed
    clearTimeout(timer)
  }
}
