import type { Readable, Writable } from 'node:stream'

/**
 * A request body passed on as it arrives, unread by the router: each chunk goes to the backend's
 * request as soon as it comes in. The chunks are kept too, so that a retry on another backend
 * can send the body again: what arrived so far at once, the rest as it comes.
 */
export class ForwardedBody {
  readonly #chunks: Buffer[] = []
  #ended = false
  /** The attempt the body is going to now; later chunks are written to it. */
  #sink: Writable | null = null

  constructor(
    incoming: Readable,
    /** The body's length, from the client's `content-length`. */
    readonly length: number,
  ) {
    incoming.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk)
      this.#sink?.write(chunk)
    })
    incoming.once('end', () => {
      this.#ended = true
      this.#sink?.end()
      this.#sink = null
    })
    // A client that goes away mid-body aborts the request's signal; the attempt ends with it.
    incoming.once('error', () => {})
  }

  /** Sends the body on an attempt's request; an earlier attempt still sending it failed, and is cut off. */
  sendOn(outgoing: Writable): void {
    this.#sink?.destroy()
    this.#sink = null
    for (const chunk of this.#chunks) outgoing.write(chunk)
    if (this.#ended) {
      outgoing.end()
      return
    }
    this.#sink = outgoing
    outgoing.once('close', () => {
      if (this.#sink === outgoing) this.#sink = null
    })
  }
}
