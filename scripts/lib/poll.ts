import { setTimeout as sleep } from 'node:timers/promises'

export interface PollOptions {
  timeoutMs: number
  /** The pause between two observations. */
  intervalMs?: number
}

/**
 * Observes until `holds` is true of what was observed, or the timeout ends; the last
 * observation, and whether it held. An error from `observe` ends the wait.
 */
export async function pollUntil<T>(
  observe: () => Promise<T>,
  holds: (value: T) => boolean,
  { timeoutMs, intervalMs = 1_000 }: PollOptions,
): Promise<{ value: T; held: boolean }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await observe()
    if (holds(value)) return { value, held: true }
    if (Date.now() > deadline) return { value, held: false }
    await sleep(intervalMs)
  }
}
