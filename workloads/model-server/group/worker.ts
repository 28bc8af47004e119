import { connect, isIP } from 'node:net'
import { Connection } from './frames.ts'
import type { Frame } from './frames.ts'
import { Group, GroupBrokenError } from './group.ts'
import { proofOf } from './secret.ts'

/** Reconnection waits double from the first to the cap: a leader that is not up yet is normal at start. */
const firstRetryMs = 200
const maxRetryMs = 5000

/**
 * A node rank other than 0. Connects to the leader at MASTER_ADDR:MASTER_PORT, retrying with
 * backoff (its DNS name may not resolve yet, or nothing listens yet), says hello, then mirrors
 * the group's state as the leader reports it and answers every step. If the leader goes silent
 * for the heartbeat timeout, closes, or leaves, this rank is not ready until it joins again.
 */
export class WorkerGroup extends Group {
  #connection: Connection | null = null
  #attempt = 0
  #lastHeard = 0
  #leaving = false
  #heartbeat: NodeJS.Timeout | null = null
  #retry: NodeJS.Timeout | null = null
  /** Why the last connection ended, for the reason this rank is not ready. */
  #lastProblem = 'not connected yet'

  async start(): Promise<void> {
    this.#connect()
  }

  async step(): Promise<void> {
    throw new GroupBrokenError(`node rank ${this.settings.nodeRank} follows the leader; only node rank 0 runs steps`)
  }

  async leave(): Promise<void> {
    this.#leaving = true
    if (this.#retry) clearTimeout(this.#retry)
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    await this.#connection?.close({ type: 'goodbye', reason: 'shutting down' }, 1000)
  }

  #connect(): void {
    const { masterAddr, masterPort } = this.settings
    // A connection attempt that hears nothing back (a dropped SYN while the pod network sets up
    // the leader's route) is given up after the heartbeat timeout, not the kernel's two minutes.
    // The clock starts once the leader's name has resolved: the resolver retries a lost DNS
    // packet after 5 s (glibc's default), longer than a heartbeat timeout, and a lookup that
    // fails ends the attempt with its own error.
    const socket = connect({ host: masterAddr, port: masterPort })
    let address = isIP(masterAddr) ? masterAddr : undefined
    if (address) socket.setTimeout(this.settings.heartbeatTimeoutMs)
    socket.once('lookup', (error: Error | null, resolved: string) => {
      address = resolved
      if (!error) socket.setTimeout(this.settings.heartbeatTimeoutMs)
    })
    socket.once('timeout', () =>
      socket.destroy(Object.assign(new Error('connection timed out'), { code: 'ETIMEDOUT' })),
    )
    const connection = new Connection(
      socket,
      (frame) => this.#onFrame(connection, frame),
      (line) => {
        this.log.warn({ line }, 'the leader sent something other than a frame; reconnecting')
        socket.destroy()
      },
    )
    this.#connection = connection
    socket.once('connect', () => {
      socket.setTimeout(0)
      this.log.info({ leader: this.leaderAddress }, 'connected to the leader')
      this.#lastHeard = Date.now()
      this.#lastProblem = 'waiting for the leader to admit this rank'
      this.#heartbeat = setInterval(() => this.#tick(connection), this.settings.heartbeatIntervalMs).unref()
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Expected while the group starts: the leader's name does not resolve yet, or nothing listens.
      this.#lastProblem = `cannot reach the leader at ${this.leaderAddress} (${error.code ?? error.message})`
      this.log.info(
        { leader: this.leaderAddress, address, code: error.code, attempt: this.#attempt },
        'leader not reachable yet',
      )
    })
    socket.on('close', () => this.#disconnected())
  }

  #onFrame(connection: Connection, frame: Frame): void {
    this.#lastHeard = Date.now()
    switch (frame.type) {
      case 'challenge': {
        const { nodeRank, nnodes, gpusPerNode, servedModelName, groupSecret } = this.settings
        connection.send({
          type: 'hello',
          nodeRank,
          nnodes,
          gpusPerNode,
          model: servedModelName,
          generation: this.generation,
          proof: proofOf(groupSecret, frame.nonce),
        })
        break
      }
      case 'step':
        this.steps++
        connection.send({ type: 'ack', id: frame.id })
        break
      case 'status':
        this.#adopt(frame)
        break
      case 'refused':
        this.#lastProblem = `the leader refused this rank: ${frame.reason}`
        this.log.error(
          { leader: this.leaderAddress, reason: frame.reason },
          `the leader refused this rank: ${frame.reason}`,
        )
        break
      case 'goodbye':
        this.#lastProblem = `the leader left (${frame.reason})`
        this.log.warn({ leader: this.leaderAddress, reason: frame.reason }, 'the leader left the group')
        break
    }
  }

  #adopt(status: Extract<Frame, { type: 'status' }>): void {
    this.#attempt = 0
    const formed = status.state === 'ready' && (this.state !== 'ready' || status.generation !== this.generation)
    const broke = status.state !== 'ready' && this.state === 'ready'
    this.state = status.state
    this.generation = status.generation
    this.members = status.members
    this.reason = status.reason
    if (formed) this.log.info({ generation: this.generation, members: this.members }, 'group formed')
    if (broke) this.log.warn({ generation: this.generation, reason: this.reason }, 'group broken')
  }

  #tick(connection: Connection): void {
    if (Date.now() - this.#lastHeard > this.settings.heartbeatTimeoutMs) {
      this.#lastProblem = `the leader sent no heartbeat for ${this.settings.heartbeatTimeoutMs} ms`
      this.log.warn({ leader: this.leaderAddress }, this.#lastProblem)
      connection.socket.destroy()
      return
    }
    connection.send({ type: 'heartbeat' })
  }

  #disconnected(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    this.#heartbeat = null
    this.#connection = null
    if (this.state === 'ready') this.log.warn({ reason: this.#lastProblem }, 'group broken: lost the leader')
    if (this.generation > 0) this.state = 'broken'
    this.members = []
    this.reason = this.#lastProblem
    if (this.#leaving) return
    const delayMs = Math.min(maxRetryMs, firstRetryMs * 2 ** this.#attempt)
    this.#attempt++
    this.log.debug({ delayMs, attempt: this.#attempt }, 'reconnecting to the leader')
    this.#retry = setTimeout(() => this.#connect(), delayMs)
  }
}
