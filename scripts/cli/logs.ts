// npm run logs -- --request-id ID [--step 06] [--context NAME]: one request's log lines from every
// pod of a step (every lab namespace without --step), in time order, read through the API server.
import type { V1Pod } from '@kubernetes/client-node'
import { parseArgs } from '../lib/args.ts'
import { EnvironmentError } from '../lib/errors.ts'
import { connect, type KubeContext } from '../lib/kube.ts'
import { labNamespaces } from '../lib/namespaces.ts'
import { partOfLabel } from '../lib/project.ts'
import { formatRequestLine, linesOfRequest, type PodLog } from '../lib/request-logs.ts'
import { findStep, stepNamespace } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

/** Every container's log of the lab's pods in these namespaces; a container without a log (none ran) is left out. */
async function podLogs(kube: KubeContext, namespaces: string[]): Promise<{ logs: PodLog[]; unread: string[] }> {
  const selector = Object.entries(partOfLabel)
    .map(([key, value]) => `${key}=${value}`)
    .join(',')
  const logs: PodLog[] = []
  const unread: string[] = []
  for (const namespace of namespaces) {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: selector })
    for (const pod of pods.items as V1Pod[]) {
      for (const container of pod.spec?.containers ?? []) {
        const where = { namespace, pod: pod.metadata!.name!, container: container.name }
        try {
          logs.push({
            ...where,
            text: await kube.core.readNamespacedPodLog({ name: where.pod, namespace, container: container.name }),
          })
        } catch {
          unread.push(`${namespace}/${where.pod}/${container.name}`)
        }
      }
    }
  }
  return { logs, unread }
}

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['request-id', 'step', 'context', 'provider', 'cluster'])
  const requestId = args.requestId
  if (!requestId)
    throw new EnvironmentError('usage: npm run logs -- --request-id ID [--step NN] (the x-request-id of an answer)')
  const kube = connect(resolveTarget(args).context)
  const namespaces = args.step ? [await stepNamespace(await findStep(args.step))] : await labNamespaces(kube)
  const { logs, unread } = await podLogs(kube, namespaces)
  if (logs.length === 0)
    throw new EnvironmentError(
      `no pod log could be read in ${namespaces.join(', ') || 'any lab namespace'}` +
        (unread.length > 0 ? ` (${unread.length} containers have none: on kwok, pods run no containers)` : ''),
    )
  const lines = linesOfRequest(logs, requestId)
  for (const line of lines) console.log(formatRequestLine(line))
  const services = new Set(lines.map((l) => l.service))
  console.log(
    `${lines.length} lines of request ${requestId} in ${services.size} services (${[...services].join(', ')}), from ${logs.length} container logs read` +
      (unread.length > 0 ? `; ${unread.length} could not be read` : ''),
  )
  return lines.length > 0 ? 0 : 1
})
