import type { BackendReport } from './backend-report.ts'

export interface LoadSettings {
  /** Saturated when running + waiting ≥ queueThreshold × max-num-seqs. */
  queueThreshold: number
  /** A backend's max-num-seqs when its metrics do not say. */
  defaultMaxNumSeqs: number
  /** A report older than this (ms) counts as saturated. */
  stalenessMs: number
  /** Tokens per block when the backend does not say. */
  defaultBlockSize: number
}

/** The counters at the moment a scrape was sent, so what happened after it is added on top. */
export interface ScrapeMark {
  readonly dispatched: number
  readonly finished: number
  readonly dispatchedBlocks: number
  readonly finishedBlocks: number
}

/**
 * One backend's load as the frontend estimates it between two scrapes of its metrics: what the
 * last scrape said (running + waiting, KV blocks in use), plus what this frontend sent it since
 * that scrape was sent, minus what finished since. A scrape every 50 ms alone would let a burst
 * overshoot the threshold before the next one shows it (llm-d's "telemetry staleness"); counting
 * its own dispatches closes that gap. Never below the requests this frontend has in flight there.
 *
 * Saturated (Dynamo's router queue threshold): running + waiting ≥ threshold × max-num-seqs. A
 * backend with no report yet, or one older than the staleness bound, counts as saturated, as
 * llm-d's saturation detector treats stale metrics: better to wait than to pile onto a backend
 * that may be gone.
 */
export class BackendLoad {
  readonly #settings: LoadSettings
  readonly #now: () => number
  #report: BackendReport | null = null
  #reportedAt = Number.NEGATIVE_INFINITY
  #mark: ScrapeMark = { dispatched: 0, finished: 0, dispatchedBlocks: 0, finishedBlocks: 0 }
  #dispatched = 0
  #finished = 0
  #dispatchedBlocks = 0
  #finishedBlocks = 0
  /** Requests this frontend has in flight to the backend. */
  inFlight = 0

  constructor(settings: LoadSettings, now: () => number = performance.now.bind(performance)) {
    this.#settings = settings
    this.#now = now
  }

  /** To call when sending a scrape; hand the mark back with its report. */
  mark(): ScrapeMark {
    return {
      dispatched: this.#dispatched,
      finished: this.#finished,
      dispatchedBlocks: this.#dispatchedBlocks,
      finishedBlocks: this.#finishedBlocks,
    }
  }

  reported(report: BackendReport, mark: ScrapeMark): void {
    this.#report = report
    this.#reportedAt = this.#now()
    this.#mark = mark
  }

  get report(): BackendReport | null {
    return this.#report
  }

  /** Milliseconds since the last good report; Infinity before any. */
  get age(): number {
    return this.#now() - this.#reportedAt
  }

  dispatched(blocks: number): void {
    this.#dispatched++
    this.#dispatchedBlocks += blocks
    this.inFlight++
  }

  finished(blocks: number): void {
    this.#finished++
    this.#finishedBlocks += blocks
    this.inFlight--
  }

  /** Running + waiting, estimated now. */
  get requests(): number {
    const reported = this.#report ? this.#report.running + this.#report.waiting : 0
    const since = this.#dispatched - this.#mark.dispatched - (this.#finished - this.#mark.finished)
    return Math.max(this.inFlight, reported + since)
  }

  /** KV blocks in use, estimated now: usage × blocks at the last scrape, plus the prompts sent since. */
  get activeBlocks(): number {
    const report = this.#report
    const reported = report && report.numGpuBlocks !== null ? report.kvCacheUsage * report.numGpuBlocks : 0
    const since =
      this.#dispatchedBlocks - this.#mark.dispatchedBlocks - (this.#finishedBlocks - this.#mark.finishedBlocks)
    return Math.max(0, reported + since)
  }

  get maxNumSeqs(): number {
    return this.#report?.maxNumSeqs ?? this.#settings.defaultMaxNumSeqs
  }

  get blockSize(): number {
    return this.#report?.blockSize ?? this.#settings.defaultBlockSize
  }

  get stale(): boolean {
    return this.age > this.#settings.stalenessMs
  }

  get saturated(): boolean {
    return this.stale || this.requests >= this.#settings.queueThreshold * this.maxNumSeqs
  }
}
