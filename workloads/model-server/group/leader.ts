import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { Connection } from './frames.ts'
import type { Frame } from './frames.ts'
import { Group, GroupBrokenError } from './group.ts'
import { newNonce, provesSecret } from './secret.ts'

interface Member {
  connection: Connection
  lastHeard: number
}

interface PendingStep {
  waitingFor: Set<number>
  timer: NodeJS.Timeout
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
      // Only the pod's own address (RENDEZVOUS_HOST, from status.podIP), where the other ranks
      // reach it: never every interface whatever --host says.
      server.listen(this.settings.masterPort, this.settings.rendezvousHost, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (error) => this.log.error({ err: error }, 'rendezvous server error'))
    this.#server = server
    this.#timer = setInterval(() => this.#tick(), this.settings.heartbeatIntervalMs).unref()
    this.log.info(
      { host: this.settings.rendezvousHost, port: this.settings.masterPort, nnodes: this.settings.nnodes },
      'group leader waiting for ranks',
    )
  }

  async step(): Promise<void> {
    if (!this.ready) throw new GroupBrokenError(`the group is not ready: ${this.reason}`)
    if (this.#members.size === 0) {
      this.steps++
      return
    }
    const id = this.#nextStep++
    const done = new Promise<void>((resolve, reject) => {
      // A rank that heartbeats but never acknowledges would hang every request: like a
      // collective's timeout in torch.distributed, the ranks still missing break the group.
      const timer = setTimeout(() => this.#stepTimedOut(id), this.settings.stepTimeoutMs)
      this.#pending.set(id, { waitingFor: new Set(this.#members.keys()), timer, resolve, reject })
    })
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
    const nonce = newNonce()
    let rank: number | null = null
    let helloSeen = false
    const connection = new Connection(
      socket,
      (frame) => {
        if (rank === null) {
          // One hello per connection: a refused peer gets no second guess at the secret.
          if (frame.type === 'hello' && !helloSeen) {
            helloSeen = true
            rank = this.#hello(frame, connection, peer, nonce)
          }
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
    connection.send({ type: 'challenge', nonce })
  }

  /** Admits a worker rank and returns it, or refuses it and returns null. */
  #hello(hello: Extract<Frame, { type: 'hello' }>, connection: Connection, peer: string, nonce: string): number | null {
    const refusal = provesSecret(this.settings.groupSecret, nonce, hello.proof)
      ? this.#refusal(hello)
      : 'it does not hold the group secret (GROUP_SECRET differs, or it is not a rank of this group)'
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
    if (!Number.isSafeInteger(hello.generation) || hello.generation < 0 || hello.generation > maxGeneration) {
      return `generation ${hello.generation} is not one a group can have reached (0 to ${maxGeneration})`
    }
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
        clearTimeout(step.timer)
        this.#pending.delete(frame.id)
        this.steps++
        step.resolve()
      }
    } else if (frame.type === 'goodbye') {
      this.#lose(rank, `left the group (${frame.reason})`)
    }
  }

  #stepTimedOut(id: number): void {
    const step = this.#pending.get(id)
    if (!step) return
    for (const rank of [...step.waitingFor]) {
      this.#lose(rank, `did not acknowledge step ${id} within ${this.settings.stepTimeoutMs} ms`)
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
    for (const step of this.#pending.values()) {
      clearTimeout(step.timer)
      step.reject(new GroupBrokenError(why))
    }
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

/**
 * A generation a group could really reach (one a second for 30 years): a rank that claims more
 * would pin the group's generation, so it is refused.
 */
const maxGeneration = 1_000_000_000

/** "node rank 2", "node ranks 1, 3". */
function ranks(list: number[]): string {
  return `node rank${list.length === 1 ? '' : 's'} ${list.join(', ')}`
}
