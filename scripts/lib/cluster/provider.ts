import type { EmitEvent } from '../output.ts'
import type { Topology } from './topology.ts'

export type ProviderName = 'kind' | 'kwok'
export const PROVIDERS: readonly ProviderName[] = ['kind', 'kwok']

export interface CreateOptions {
  topology: Topology
  emit: EmitEvent
}

/** What a provider's `create` leaves to the steps every provider shares (create.ts). */
export interface CreatedCluster {
  /** How many nodes must become Ready, control plane included. */
  nodes: number
  /** Where to look when they don't. */
  whereToLook: string
  /** A device plugin already advertises real GPUs; otherwise the topology's simulated ones are advertised. */
  gpusAdvertised: boolean
}

/** How a cluster is made and unmade. Each method is idempotent. */
export interface ClusterProvider {
  readonly name: ProviderName
  /** Whether pods' containers really run; `pods` checks are skipped where they don't. */
  readonly runsContainers: boolean
  /** The kube context the provider creates for a cluster: `kind-NAME`, `kwok-NAME`. */
  contextFor(cluster: string): string
  /** Builds a missing tool the lab can build (kind, with Go), else throws an EnvironmentError saying how to get it. */
  checkTools(emit: EmitEvent): Promise<void>
  exists(cluster: string): Promise<boolean>
  /** Builds (or pulls) what `create` needs, binaries and images, without creating a cluster. */
  build(emit: EmitEvent): Promise<void>
  /** Starts the cluster's machines and its provider-specific parts; createCluster (create.ts) does the rest. */
  create(cluster: string, options: CreateOptions): Promise<CreatedCluster>
  delete(cluster: string, emit: EmitEvent): Promise<void>
  /** Makes locally built images available to the nodes (nothing to do where nothing runs). */
  loadImages(cluster: string, images: string[], emit: EmitEvent): Promise<void>
  /** The Node.js image the workload image builds on, where the Dockerfile's default cannot be pulled. */
  workloadBaseImage?(emit: EmitEvent): Promise<string | undefined>
  /** The images the nodes already have, to skip loading them again. */
  nodeImages(cluster: string): Promise<string[]>
  /** One line per component or node: what is running. */
  status(cluster: string): Promise<string[]>
  /** The logs of one component, or the names of the components when none is given. */
  logs(cluster: string, component?: string): Promise<string>
}

/** The image references every node has: an image counts as loaded only when all of them hold it. */
export function imagesOnEveryNode(perNode: readonly string[][]): string[] {
  const [first = [], ...rest] = perNode
  return first.filter((reference) => rest.every((references) => references.includes(reference)))
}
