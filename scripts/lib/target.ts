import { EnvironmentError } from './errors.ts'
import { kind } from './cluster/kind/provider.ts'
import { kwok } from './cluster/kwok/provider.ts'
import { PROVIDERS, type ClusterProvider, type ProviderName } from './cluster/provider.ts'
import { DEFAULT_CLUSTER_NAME } from './project.ts'
import { settings } from './settings.ts'

export const providers: Record<ProviderName, ClusterProvider> = { kind, kwok }

/** Which cluster a command acts on, and whether the lab made it (and so may create and load it). */
export interface Target {
  provider: ClusterProvider
  cluster: string
  context: string
  /** The learner named the context: the lab uses it as it is and creates nothing. */
  explicitContext: boolean
  /** The nodes of the cluster, should the lab create it: a preset name or a file (default lab). */
  topology?: string
}

export interface TargetOptions {
  provider?: string
  context?: string
  cluster?: string
  topology?: string
}

export function providerNamed(name: string): ClusterProvider {
  if (!(PROVIDERS as readonly string[]).includes(name)) {
    throw new EnvironmentError(`unknown provider '${name}': choose one of ${PROVIDERS.join(', ')}`)
  }
  return providers[name as ProviderName]
}

/**
 * The lab only touches a context it created (`kind-serving-lab`, `kwok-serving-lab`) unless
 * the learner names one with --context; whatever context happens to be current is ignored.
 */
export function resolveTarget(options: TargetOptions): Target {
  const cluster = options.cluster ?? settings.cluster ?? DEFAULT_CLUSTER_NAME
  if (options.context) {
    const prefix = options.context.split('-')[0]!
    const provider = options.provider
      ? providerNamed(options.provider)
      : (PROVIDERS as readonly string[]).includes(prefix)
        ? providers[prefix as ProviderName]
        : kind
    return {
      provider,
      cluster: options.context.replace(/^(kind|kwok)-/, ''),
      context: options.context,
      explicitContext: true,
    }
  }
  const provider = providerNamed(options.provider ?? settings.provider ?? 'kind')
  const topology = options.topology ?? settings.topology
  return {
    provider,
    cluster,
    context: provider.contextFor(cluster),
    explicitContext: false,
    ...(topology ? { topology } : {}),
  }
}
