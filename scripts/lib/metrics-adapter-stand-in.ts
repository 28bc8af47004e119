// Step 07 on a cluster that runs no containers (kwok): the metrics adapter's pods never run, and
// the model servers' pod addresses lead nowhere. So the runner runs the adapter's own code
// itself, with the flags of the step's Deployment, and the aggregator reaches it through an
// ExternalName Service: kube-apiserver resolves an APIService's Service of that type to
// `<externalName>:<APIService port>` (k8s.io/apiserver ResolveCluster), where a ClusterIP would
// need kube-proxy. One real model server runs beside it, listed in an EndpointSlice of the
// model servers' Service with this machine's address (the API refuses loopback ones), so the
// value the HPA reads is scraped from a real process whose queue a check can fill.
import { networkInterfaces } from 'node:os'
import { DiscoveryV1Api, type KubernetesObject } from '@kubernetes/client-node'
import { apply, isNotFound, type KubeContext } from './kube.ts'
import { deleteApiServicesInto } from './namespaces.ts'
import { repoRoot } from './project.ts'
import { keepStandIn, stopStandIn } from './stand-ins.ts'
import { freePort, startWorkload, type WorkloadProcess } from './workload-process.ts'
import { createAdapter, type Adapter } from '../../workloads/metrics-adapter/adapter.ts'
import { loadConfig } from '../../workloads/metrics-adapter/config.ts'
import { provideServingCertificate } from '../../workloads/metrics-adapter/serving-certificate.ts'

/** The label that tells the EndpointSlice controller to leave a slice alone, and people who wrote it. */
export const STAND_IN_MANAGER = 'serving-lab-stand-in'

interface Container {
  command?: string[]
  args?: string[]
  ports?: { name?: string; containerPort: number }[]
}
interface Workload extends KubernetesObject {
  spec?: { serviceName?: string; template?: { spec?: { containers?: Container[] } } }
}
interface ApiServiceObject extends KubernetesObject {
  spec?: { service?: { name?: string; namespace?: string; port?: number } }
}

const containersOf = (object: KubernetesObject) => (object as Workload).spec?.template?.spec?.containers ?? []
const runs = (program: string) => (c: Container) => c.command?.includes(`/app/${program}.mjs`) ?? false

/** The adapter's Deployment in the manifests, if any, with its args and namespace. */
export function metricsAdapterOf(
  objects: readonly KubernetesObject[],
): { namespace: string; args: string[] } | undefined {
  for (const object of objects) {
    if (object.kind !== 'Deployment') continue
    const adapter = containersOf(object).find(runs('metrics-adapter'))
    if (adapter) return { namespace: object.metadata!.namespace!, args: adapter.args ?? [] }
  }
  return undefined
}

/** The StatefulSet of model servers in the manifests: its Service and its container's args. */
function modelServersOf(objects: readonly KubernetesObject[]): { service: string; args: string[] } | undefined {
  for (const object of objects) {
    if (object.kind !== 'StatefulSet') continue
    const server = containersOf(object).find(runs('model-server'))
    if (server) return { service: (object as Workload).spec!.serviceName!, args: server.args ?? [] }
  }
  return undefined
}

/** An IPv4 address of this machine other than loopback, which an EndpointSlice may hold. */
export function machineAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address
  if (!address) throw new Error('this machine has no IPv4 address besides loopback for an EndpointSlice to name')
  return address
}

/** Flags the stand-in sets itself: where it listens. */
function withoutListenFlags(args: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port' || args[i] === '--host') i++
    else out.push(args[i]!)
  }
  return out
}

const STAND_IN = 'metrics-adapter'

/** Runs the adapter (and one model server) for the step's namespace, after its manifests are applied. */
export async function standInMetricsAdapter(kube: KubeContext, objects: readonly KubernetesObject[]): Promise<void> {
  const adapterSpec = metricsAdapterOf(objects)
  if (!adapterSpec) return
  const { namespace } = adapterSpec
  // One that ran before goes with its APIService, which is made again below with the new port.
  await stopStandIn(kube, namespace, STAND_IN)

  const config = loadConfig(withoutListenFlags(adapterSpec.args), { POD_NAMESPACE: namespace })
  const apiService = objects.find(
    (o) => o.kind === 'APIService' && (o as ApiServiceObject).spec?.service?.namespace === namespace,
  ) as ApiServiceObject | undefined
  const port = await freePort()

  // The Service the APIService names, as an ExternalName to this machine. Its ports are the
  // manifest's, so that applying the step again (or a dry run of it) merges with them; the
  // aggregator dials the APIService's port, not theirs.
  const serviceName = apiService?.spec?.service?.name ?? config.serviceName
  const manifestService = objects.find((o) => o.kind === 'Service' && o.metadata?.name === serviceName) as
    { spec?: { ports?: { name?: string; port: number; protocol?: string }[] } } | undefined
  const ports = (manifestService?.spec?.ports ?? [{ name: 'https', port: 443 }]).map(({ name, port, protocol }) => ({
    ...(name ? { name } : {}),
    port,
    ...(protocol ? { protocol } : {}),
  }))
  await kube.core.deleteNamespacedService({ name: serviceName, namespace }).catch((error: unknown) => {
    if (!isNotFound(error)) throw error
  })
  await kube.core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: serviceName, namespace, labels: { 'app.kubernetes.io/managed-by': STAND_IN_MANAGER } },
      spec: { type: 'ExternalName', externalName: 'localhost', ports },
    },
  })
  if (apiService)
    await apply(kube, [
      {
        ...apiService,
        spec: { ...apiService.spec, service: { ...apiService.spec!.service, port } },
      } as ApiServiceObject,
    ])

  // As main.ts does: its certificate from its Secret (and the caBundle, with --apiservice), or its files.
  const tls = config.certificateSecret
    ? await provideServingCertificate(kube.config, {
        namespace,
        service: config.serviceName,
        secret: config.certificateSecret,
        apiService: config.apiService,
      })
    : undefined
  let adapter: Adapter | undefined
  if (tls) {
    adapter = createAdapter({ ...config, logLevel: 'silent' }, kube.config, tls)
    await adapter.start()
    await adapter.app.listen({ port, host: '127.0.0.1' })
  }

  const running: { server?: WorkloadProcess } = {}
  const stop = async () => {
    if (adapter) {
      // The aggregator keeps its connections open; the close would wait them out.
      const closed = adapter.app.close()
      adapter.app.server.closeAllConnections()
      await closed
    }
    await running.server?.stop('SIGKILL')
  }
  // Kept before the model server starts, so a failure to start it still stops the adapter. Its
  // APIService goes first: one left without a server, even for a moment, fails the namespace
  // controller's discovery, and a namespace deleted then waits out its retries.
  keepStandIn(kube, namespace, STAND_IN, {
    stop: async () => {
      await deleteApiServicesInto(kube, [namespace])
      await stop()
    },
  })
  running.server = await startModelServer(kube, namespace, objects)
}

/** One model server of the step's StatefulSet, on this machine, in an EndpointSlice of its Service. */
async function startModelServer(
  kube: KubeContext,
  namespace: string,
  objects: readonly KubernetesObject[],
): Promise<WorkloadProcess | undefined> {
  const servers = modelServersOf(objects)
  if (!servers) return undefined
  const address = machineAddress()
  const server = await startWorkload(
    process.execPath,
    ['--import', 'tsx', 'workloads/model-server/main.ts', ...withoutListenFlags(servers.args), '--log-level', 'warn'],
    // Its own environment, as in a pod: the runner's (vitest's MODE, say) would be read as its settings.
    { cwd: repoRoot, env: { PATH: process.env.PATH }, host: address, timeoutMs: 90_000 },
  )
  // Not left running when the runner exits; the listener goes once the server has.
  const killOnExit = () => void server.stop('SIGKILL')
  process.once('exit', killOnExit)
  void server.exited.then(() => process.off('exit', killOnExit))
  const slices = kube.config.makeApiClient(DiscoveryV1Api)
  const name = `${servers.service}-stand-in`
  await slices.deleteNamespacedEndpointSlice({ name, namespace }).catch((error: unknown) => {
    if (!isNotFound(error)) throw error
  })
  await slices.createNamespacedEndpointSlice({
    namespace,
    body: {
      metadata: {
        name,
        namespace,
        labels: {
          'kubernetes.io/service-name': servers.service,
          'endpointslice.kubernetes.io/managed-by': STAND_IN_MANAGER,
        },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: Number(new URL(server.url).port), protocol: 'TCP' }],
      endpoints: [{ addresses: [address], conditions: { ready: true, serving: true, terminating: false } }],
    },
  })
  return server
}
