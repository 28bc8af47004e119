import type { FastifyBaseLogger } from 'fastify'
import type { ModelServerConfig } from '../config.ts'

export type GroupState = 'forming' | 'ready' | 'broken'

/** What `GET /group` answers on every rank. */
export interface GroupStatus {
  nodeRank: number
  nnodes: number
  gpusPerNode: number
  /** Processes in the group, one per GPU: nnodes × gpusPerNode. */
  worldSize: number
  /** This pod's processes' ranks in the world: nodeRank × gpusPerNode onwards. */
  globalRanks: number[]
  /** Where the leader listens for the rendezvous. */
  leader: string
  state: GroupState
  /** Increases each time the group forms; 0 until it first does. */
  generation: number
  /** Node ranks in the group, as far as this rank knows. */
  members: number[]
  /** Why the group is not ready; null when it is. */
  reason: string | null
}

export type GroupSettings = Pick<
  ModelServerConfig,
  | 'nodeRank'
  | 'nnodes'
  | 'gpusPerNode'
  | 'masterAddr'
  | 'masterPort'
  | 'servedModelName'
  | 'heartbeatIntervalMs'
  | 'heartbeatTimeoutMs'
  | 'stepTimeoutMs'
  | 'groupSecret'
  | 'rendezvousHost'
>

/** A request cannot go on: the group lost a rank (or never formed). Answers as a 503. */
export class GroupBrokenError extends Error {
  override name = 'GroupBrokenError'
}

/**
 * The ranks of one model instance, spread over `nnodes` pods. The leader (node rank 0) accepts
 * the others, fixes a generation once all joined, and runs one simulated all-reduce with every
 * rank per generated token; the others follow the leader.
 */
export abstract class Group {
  state: GroupState = 'forming'
  generation = 0
  members: number[] = []
  reason: string | null = 'waiting for every rank to join'
  /** Token steps this rank completed (the leader) or took part in (the others). */
  steps = 0

  constructor(
    protected readonly settings: GroupSettings,
    protected readonly log: FastifyBaseLogger,
  ) {}

  get ready(): boolean {
    return this.state === 'ready'
  }

  get leaderAddress(): string {
    return `${this.settings.masterAddr}:${this.settings.masterPort}`
  }

  status(): GroupStatus {
    const { nodeRank, nnodes, gpusPerNode } = this.settings
    return {
      nodeRank,
      nnodes,
      gpusPerNode,
      worldSize: nnodes * gpusPerNode,
      globalRanks: Array.from({ length: gpusPerNode }, (_, i) => nodeRank * gpusPerNode + i),
      leader: this.leaderAddress,
      state: this.state,
      generation: this.generation,
      members: [...this.members],
      reason: this.reason,
    }
  }

  /** Joins or opens the rendezvous; returns once it has begun (the group forms later). */
  abstract start(): Promise<void>
  /** Leaves the group, telling the others at once. */
  abstract leave(): Promise<void>
  /** One token step: resolves when every rank took part; rejects with GroupBrokenError when one is missing. */
  abstract step(): Promise<void>
}
