import { Agent, get } from 'node:http'
import { parseBackendReport } from './backend-report.ts'
import type { BackendLoad } from './load.ts'

/** Kept-alive connections for the scrapes: one every 50 ms per backend would otherwise open as many sockets. */
const agent = new Agent({ keepAlive: true, maxSockets: 1 })

export interface ScraperOptions {
  url: string
  load: BackendLoad
  intervalMs: number
  /** A scrape that takes longer is abandoned; the load's report then ages towards stale. */
  timeoutMs: number
  /** After each good report: capacity may have freed. */
  onReport: () => void
}

/**
 * Reads one backend's `/metrics` every interval (llm-d's endpoint picker refreshes every 50 ms)
 * into its BackendLoad. Scrapes never overlap: the next is scheduled when one ends. A failed
 * scrape changes nothing, so the last report ages until it counts as stale.
 */
export class MetricsScraper {
  readonly #options: ScraperOptions
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #abort = new AbortController()

  constructor(options: ScraperOptions) {
    this.#options = options
  }

  start(): void {
    void this.#scrape()
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#abort.abort()
  }

  async #scrape(): Promise<void> {
    const { load, onReport, intervalMs } = this.#options
    const mark = load.mark()
    const text = await this.#fetch().catch(() => null)
    if (this.#stopped) return
    const report = text === null ? null : parseBackendReport(text)
    if (report) {
      load.reported(report, mark)
      onReport()
    }
    this.#timer = setTimeout(() => void this.#scrape(), intervalMs)
  }

  #fetch(): Promise<string | null> {
    const { url, timeoutMs } = this.#options
    return new Promise((resolve, reject) => {
      const request = get(`${url}/metrics`, { agent, timeout: timeoutMs, signal: this.#abort.signal }, (response) => {
        if (response.statusCode !== 200) {
          response.resume()
          resolve(null)
          return
        }
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
        response.on('error', reject)
      })
      request.on('timeout', () => request.destroy(new Error('scrape timed out')))
      request.on('error', reject)
    })
  }
}
