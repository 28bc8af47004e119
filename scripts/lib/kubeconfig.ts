// The one place the lab reads and writes kubeconfig files.
import { KubeConfig } from '@kubernetes/client-node'
import { EnvironmentError } from './errors.ts'

/** The default kubeconfig ($KUBECONFIG or ~/.kube/config) with `context` current: never the current one by accident. */
export function loadKubeConfig(context: string): KubeConfig {
  const config = new KubeConfig()
  config.loadFromDefault()
  if (!config.getContextObject(context)) {
    const known = config.getContexts().map((c) => c.name)
    throw new EnvironmentError(
      `kube context '${context}' does not exist (known: ${known.join(', ') || 'none'}). ` +
        `Create the lab's cluster with 'npm run cluster:up', or name an existing context with --context.`,
    )
  }
  config.setCurrentContext(context)
  return config
}

/** A kubeconfig file's text holding only the current context, its cluster and its user: for a process the lab starts. */
export function currentContextOnly(config: KubeConfig): string {
  const context = config.getCurrentContext()
  const single = new KubeConfig()
  single.loadFromOptions({
    clusters: [config.getCurrentCluster()!],
    users: [config.getCurrentUser()!],
    contexts: [config.getContextObject(context)!],
    currentContext: context,
  })
  return single.exportConfig()
}
