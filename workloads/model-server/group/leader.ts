import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { Connection } from './frames.ts'
import type { Frame } from './frames.ts'
import { Group, GroupBrokenError } from './group.ts'

interface Member {
  connection: Connection
  lastHeard: number
}

interface PendingStep {
  waitingFor: Set<number>
  resolve: () => void
  reject: (error: Error) => void
}

/**
 * Node rank 0. Listens on MASTER_PORT, admits each other rank once, and forms the group when all
 * NNODES are in. A rank that leaves, closes its connection or goes silent for the heartbeat
 * timeout breaks the group: steps in flight fail, the others are told, and the group forms again,
 * under the next generation, when the rank is back. With NNODES 1 there is nobody to wait for.
 */
export class LeaderGroup extends Group {
  readonly #members = new Map<number, Member>()
  readonly #pending = new Map<number, PendingStep>()
  #nextStep = 1
  /** The highest generation any joining rank has seen, so a restarted leader continues from it. */
  #seenGeneration = 0
  #server: Server | null = null
  #timer: NodeJS.Timeout | null = null

  async start(): Promise<void> {
    this.members = [0]
    if (this.settings.nnodes === 1) {
      this.#form()
      return
    }
    const server = createServer((socket) => this.#accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      // No host: all interfaces, since the other ranks reach this pod through its own address.
      server.listen(this.settings.masterPort, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (error) => this.log.error({ err: error }, 'rendezvous server error'))
    this.#server = server
    this.#timer = setInterval(() => this.#tick(), this.settings.heartbeatIntervalMs).unref()
    this.log.info({ port: this.settings.masterPort, nnodes: this.settings.nnodes }, 'group leader waiting for ranks')
  }

  async step(): Promise<void> {
    if (!this.ready) throw new GroupBrokenError(`the group is not ready: ${this.reason}`)
    if (this.#members.size === 0) {
      this.steps++
      return
    }
    const id = this.#nextStep++
    const done = new Promise<void>((resolve, reject) =>
      this.#pending.set(id, { waitingFor: new Set(this.#members.keys()), resolve, reject }),
    )
    for (const member of this.#members.values()) member.connection.send({ type: 'step', id })
    return done
  }

  async leave(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.state = 'broken'
    this.reason = 'the leader is shutting down'
    this.#failSteps('the leader is shutting down')
    const goodbye: Frame = { type: 'goodbye', reason: 'the leader is shutting down' }
    await Promise.all([...this.#members.values()].map((m) => m.connection.close(goodbye, 1000)))
    this.#members.clear()
    // A connection still before its hello would hold the close open until its own timeout.
    const closed = new Promise((resolve) => (this.#server ? this.#server.close(resolve) : resolve(undefined)))
    await Promise.race([closed, delay(1000)])
  }

  #accept(socket: Socket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`
    let rank: number | null = null
    const connection = new Connection(
      socket,
      (frame) => {
        if (rank === null) {
          if (frame.type === 'hello') rank = this.#hello(frame, connection, peer)
          return
        }
        this.#onFrame(rank, frame)
      },
      (line) => {
        this.log.warn({ peer, line }, 'closing a rendezvous connection that sent something other than a frame')
        socket.destroy()
      },
    )
    socket.on('error', (error) => this.log.debug({ peer, err: error }, 'rendezvous connection error'))
    socket.on('close', () => {
      if (rank !== null && this.#members.get(rank)?.connection === connection) this.#lose(rank, 'closed its connection')
    })
    // A peer that connects but never says hello is dropped after the heartbeat timeout.
    setTimeout(() => rank === null && socket.destroy(), this.settings.heartbeatTimeoutMs).unref()
  }

  /** Admits a worker rank and returns it, or refuses it and returns null. */
  #hello(hello: Extract<Frame, { type: 'hello' }>, connection: Connection, peer: string): number | null {
    const refusal = this.#refusal(hello)
    if (refusal) {
      this.log.warn({ peer, rank: hello.nodeRank, reason: refusal }, `refused node rank ${hello.nodeRank}: ${refusal}`)
      void connection.close({ type: 'refused', reason: refusal }, 1000)
      return null
    }
    this.#members.set(hello.nodeRank, { connection, lastHeard: Date.now() })
    this.#seenGeneration = Math.max(this.#seenGeneration, hello.generation)
    this.members = [0, ...this.#members.keys()].sort((a, b) => a - b)
    this.log.info({ peer, rank: hello.nodeRank, members: this.members }, `node rank ${hello.nodeRank} joined`)
    if (this.members.length === this.settings.nnodes) this.#form()
    else {
      this.reason = `waiting for ${ranks(this.#missing())} to join`
      this.#broadcast()
    }
    return hello.nodeRank
  }

  #refusal(hello: Extract<Frame, { type: 'hello' }>): string | null {
    const { nnodes, gpusPerNode, servedModelName } = this.settings
    if (hello.nnodes !== nnodes || hello.gpusPerNode !== gpusPerNode) {
      return (
        `the group is NNODES ${nnodes} × GPUS_PER_NODE ${gpusPerNode} = world size ${nnodes * gpusPerNode}, ` +
        `but node rank ${hello.nodeRank} expects NNODES ${hello.nnodes} × GPUS_PER_NODE ${hello.gpusPerNode} = world size ${hello.nnodes * hello.gpusPerNode}`
      )
    }
    if (hello.model !== servedModelName)
      return `the group serves ${servedModelName}, but node rank ${hello.nodeRank} has ${hello.model}`
    if (!Number.isInteger(hello.nodeRank) || hello.nodeRank < 1 || hello.nodeRank >= nnodes) {
      return `node rank ${hello.nodeRank} is not a worker rank of this group (1 to ${nnodes - 1})`
    }
    if (this.#members.has(hello.nodeRank)) return `node rank ${hello.nodeRank} has already joined`
    return null
  }

  #onFrame(rank: number, frame: Frame): void {
    const member = this.#members.get(rank)
    if (!member) return
    member.lastHeard = Date.now()
    if (frame.type === 'ack') {
      const step = this.#pending.get(frame.id)
      step?.waitingFor.delete(rank)
      if (step && step.waitingFor.size === 0) {
        this.#pending.delete(frame.id)
        this.steps++
        step.resolve()
      }
    } else if (frame.type === 'goodbye') {
      this.#lose(rank, `left the group (${frame.reason})`)
    }
  }

  #tick(): void {
    const now = Date.now()
    for (const [rank, member] of this.#members) {
      if (now - member.lastHeard > this.settings.heartbeatTimeoutMs) {
        this.#lose(rank, `sent no heartbeat for ${this.settings.heartbeatTimeoutMs} ms`)
      } else {
        member.connection.send({ type: 'heartbeat' })
      }
    }
  }

  #lose(rank: number, why: string): void {
    const member = this.#members.get(rank)
    if (!member) return
    this.#members.delete(rank)
    member.connection.socket.destroy()
    this.members = this.members.filter((r) => r !== rank)
    if (this.state === 'ready') {
      this.state = 'broken'
      this.log.warn({ rank, generation: this.generation }, `group broken: node rank ${rank} ${why}`)
    } else {
      this.log.info({ rank }, `node rank ${rank} ${why}`)
    }
    const lost = this.state === 'broken' ? `node rank ${rank} ${why}; ` : ''
    this.reason = `${lost}waiting for ${ranks(this.#missing())} to join`
    this.#failSteps(`the group lost node rank ${rank}: it ${why}`)
    this.#broadcast()
  }

  #form(): void {
    this.generation = Math.max(this.generation, this.#seenGeneration) + 1
    this.state = 'ready'
    this.reason = null
    this.log.info({ generation: this.generation, members: this.members }, 'group formed')
    this.#broadcast()
  }

  #failSteps(why: string): void {
    for (const step of this.#pending.values()) step.reject(new GroupBrokenError(why))
    this.#pending.clear()
  }

  #missing(): number[] {
    return Array.from({ length: this.settings.nnodes }, (_, r) => r).filter((r) => !this.members.includes(r))
  }

  #broadcast(): void {
    const status: Frame = {
      type: 'status',
      state: this.state,
      generation: this.generation,
      members: this.members,
      reason: this.reason,
    }
    for (const member of this.#members.values()) member.connection.send(status)
  }
}

/** "node rank 2", "node ranks 1, 3". */
function ranks(list: number[]): string {
  return `node rank${list.length === 1 ? '' : 's'} ${list.join(', ')}`
}
