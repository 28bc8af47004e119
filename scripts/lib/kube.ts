import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  VersionApi,
  type KubernetesObject,
} from '@kubernetes/client-node'
import { EnvironmentError, errorMessage } from './errors.ts'
import { PROJECT } from './project.ts'

/** A connection to one named kube context, with the API clients the lab uses. */
export interface KubeContext {
  context: string
  config: KubeConfig
  core: CoreV1Api
  apps: AppsV1Api
  objects: KubernetesObjectApi
}

/** Connects to a context of the default kubeconfig ($KUBECONFIG or ~/.kube/config), never the current one by accident. */
export function connect(context: string): KubeContext {
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
  return {
    context,
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    objects: KubernetesObjectApi.makeApiClient(config),
  }
}

/** Server-side apply, one field manager for the whole project, conflicts forced (the lab owns its objects). */
export async function apply(kube: KubeContext, objects: readonly KubernetesObject[]): Promise<void> {
  for (const object of objects) {
    try {
      await kube.objects.patch(object, undefined, undefined, PROJECT, true, PatchStrategy.ServerSideApply)
    } catch (error) {
      const where = `${object.kind}/${object.metadata?.name}` + (object.metadata?.namespace ? ` in ${object.metadata.namespace}` : '')
      throw new Error(`server-side apply of ${where} was refused: ${errorMessage(error)}`, { cause: error })
    }
  }
}

/** True when the API answered 404 for the object. */
export function isNotFound(error: unknown): boolean {
  return (error as { code?: number }).code === 404
}

export async function serverVersion(kube: KubeContext): Promise<string> {
  const info = await kube.config.makeApiClient(VersionApi).getCode()
  return info.gitVersion
}

/** Nodes simulated by KWOK carry this annotation; their pods' containers never run. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node'

/** Whether any node of the cluster really runs containers (false on a kwok cluster). */
export async function clusterRunsContainers(kube: KubeContext): Promise<boolean> {
  const nodes = await kube.core.listNode()
  return nodes.items.some((node) => node.metadata?.annotations?.[KWOK_NODE_ANNOTATION] !== 'fake')
}

/** GET through the API server's pod proxy (`pod` may carry a port: `name:8000`); the body as text. */
export async function podProxyGet(kube: KubeContext, namespace: string, pod: string, path: string): Promise<string> {
  return kube.core.connectGetNamespacedPodProxyWithPath({ name: pod, namespace, path: path.replace(/^\//, '') })
}
