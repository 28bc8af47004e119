import { HealthState } from './health-state.ts'
import type { HealthSettings } from './health-state.ts'

export interface HealthCheckSettings extends HealthSettings {
  path: string
  intervalMs: number
  timeoutMs: number
}

/**
 * Active health checks of one backend: `GET <url><path>` every interval, passed on a 2xx within
 * the timeout. The first check runs at once. Checks never overlap: the next is scheduled when
 * one ends.
 */
export class HealthCheck {
  readonly state: HealthState
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #controller = new AbortController()

  constructor(
    private readonly url: string,
    private readonly settings: HealthCheckSettings,
    private readonly onChange: (healthy: boolean, reason: string) => void,
  ) {
    this.state = new HealthState(settings)
  }

  start(): void {
    void this.#check()
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#controller.abort()
  }

  async #check(): Promise<void> {
    const reason = await this.#probe()
    if (this.#stopped) return
    if (this.state.record(reason === null)) this.onChange(this.state.healthy, reason ?? 'health check passed')
    this.#timer = setTimeout(() => void this.#check(), this.settings.intervalMs)
  }

  /** Null when the check passed, else what went wrong. */
  async #probe(): Promise<string | null> {
    const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.settings.timeoutMs)])
    try {
      const response = await fetch(this.url + this.settings.path, { signal })
      await response.body?.cancel()
      return response.ok ? null : `health check answered ${response.status}`
    } catch (error) {
      if (signal.aborted) return `health check timed out after ${this.settings.timeoutMs} ms`
      return `health check failed: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`
    }
  }
}
