import { request } from 'node:https'
import { Writable } from 'node:stream'
import {
  AppsV1Api,
  CoreV1Api,
  Exec,
  HttpMethod,
  type KubeConfig,
  KubernetesObjectApi,
  Observable,
  PatchStrategy,
  VersionApi,
  type HttpInfo,
  type KubernetesObject,
  type ObservableMiddleware,
  type V1Status,
} from '@kubernetes/client-node'
import { errorMessage } from './errors.ts'
import { loadKubeConfig } from './kubeconfig.ts'
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
  const config = loadKubeConfig(context)
  return {
    context,
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    objects: KubernetesObjectApi.makeApiClient(config),
  }
}

/**
 * Server-side apply that sends each object exactly as written. The client's own `patch` first
 * passes known kinds through its typed model, which silently drops fields it does not know: a
 * misspelt field in a learner's manifest, or a CRD's `x-kubernetes-*` keys. Here the API server
 * sees everything, and rejects what is wrong.
 */
class ServerSideApplyApi extends KubernetesObjectApi {
  static forConfig(config: KubeConfig): ServerSideApplyApi {
    const api = config.makeApiClient(ServerSideApplyApi)
    api.setDefaultNamespace(config)
    return api
  }

  async apply(object: KubernetesObject, options: { dryRun?: boolean } = {}): Promise<KubernetesObject> {
    const request = this.configuration.baseServer.makeRequestContext(
      await this.specUriPath(object, 'patch'),
      HttpMethod.PATCH,
    )
    request.setHeaderParam('Accept', 'application/json')
    request.setHeaderParam('Content-Type', PatchStrategy.ServerSideApply)
    request.setQueryParam('fieldManager', PROJECT)
    request.setQueryParam('force', 'true')
    if (options.dryRun) request.setQueryParam('dryRun', 'All')
    request.setBody(JSON.stringify(object))
    return this.requestPromise(request)
  }
}

/** Server-side apply, one field manager for the whole project, conflicts forced (the lab owns its objects). */
export async function apply(
  kube: KubeContext,
  objects: readonly KubernetesObject[],
  options: { dryRun?: boolean } = {},
): Promise<KubernetesObject[]> {
  const api = ServerSideApplyApi.forConfig(kube.config)
  const applied: KubernetesObject[] = []
  for (const object of objects) {
    try {
      applied.push(await api.apply(object, options))
    } catch (error) {
      const where =
        `${object.kind}/${object.metadata?.name}` +
        (object.metadata?.namespace ? ` in ${object.metadata.namespace}` : '')
      throw new Error(`server-side apply of ${where} was refused: ${errorMessage(error)}`, { cause: error })
    }
  }
  return applied
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

/** A proxied body as text: the generated client parses a JSON answer despite its `string` type. */
const asText = (body: unknown): string => (typeof body === 'string' ? body : (JSON.stringify(body) ?? ''))
/** Proxy paths are given without their leading slash. */
const proxyPath = (path: string) => path.replace(/^\//, '')

/** GET through the API server's pod proxy (`pod` may carry a port: `name:8000`); the body as text. */
export async function podProxyGet(kube: KubeContext, namespace: string, pod: string, path: string): Promise<string> {
  return asText(await kube.core.connectGetNamespacedPodProxyWithPath({ name: pod, namespace, path: proxyPath(path) }))
}

/** Sends a JSON body with a proxy call: the generated client has no body parameter for them. */
function jsonBody(
  body: unknown,
  headers: Record<string, string> = {},
): { middleware: ObservableMiddleware[]; middlewareMergeStrategy: 'append' } {
  const withBody: ObservableMiddleware = {
    pre(request) {
      request.setHeaderParam('Content-Type', 'application/json')
      // The API server's proxy passes request headers on to the pod.
      for (const [name, value] of Object.entries(headers)) request.setHeaderParam(name, value)
      request.setBody(JSON.stringify(body))
      return new Observable(Promise.resolve(request))
    },
    post: (response) => new Observable(Promise.resolve(response)),
  }
  return { middleware: [withBody], middlewareMergeStrategy: 'append' }
}

type BodyMethod = 'connectPostNamespacedPodProxyWithPath' | 'connectPutNamespacedPodProxyWithPath'

/** Sends a JSON body through the API server's pod proxy (`pod` may carry a port: `name:8000`); the answer as text. */
const podProxyWithBody =
  (method: BodyMethod) =>
  async (kube: KubeContext, namespace: string, pod: string, path: string, body: unknown): Promise<string> =>
    asText(await kube.core[method]({ name: pod, namespace, path: proxyPath(path) }, jsonBody(body)))

/** POST a JSON body through the API server's pod proxy; the answer as text. */
export const podProxyPost = podProxyWithBody('connectPostNamespacedPodProxyWithPath')
/** PUT a JSON body through the API server's pod proxy; the answer as text. */
export const podProxyPut = podProxyWithBody('connectPutNamespacedPodProxyWithPath')

export interface ExecResult {
  stdout: string
  stderr: string
  exitCode: number
}

/**
 * The exit code in the status an exec stream ends with: 0 on Success, the `ExitCode` cause on
 * NonZeroExitCode; an error when the command could not run at all (no such container or binary).
 */
export function execExitCode(status: V1Status): number {
  if (status.status === 'Success') return 0
  const code = status.details?.causes?.find((cause) => cause.reason === 'ExitCode')?.message
  if (status.reason === 'NonZeroExitCode' && code !== undefined && /^\d+$/.test(code)) return Number(code)
  throw new Error(`the command did not run: ${status.message ?? status.reason ?? 'no reason given'}`)
}

/** Runs a command in a container (like `kubectl exec`), without a TTY or stdin; resolves when it exits. */
export async function execInPod(
  kube: KubeContext,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
  timeoutMs = 30_000,
): Promise<ExecResult> {
  const collect = () => {
    const chunks: Buffer[] = []
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk)
        done()
      },
    })
    return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
  }
  const stdout = collect()
  const stderr = collect()
  const where = `exec in ${namespace}/${pod} (${command.join(' ').slice(0, 80)})`
  let socket: { close(): void; on(event: 'close', listener: () => void): unknown } | undefined
  let timer: NodeJS.Timeout | undefined
  try {
    return await new Promise<ExecResult>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${where} did not finish within ${timeoutMs / 1000} s`)), timeoutMs)
      const onStatus = (status: V1Status) => {
        // The status comes last on the stream; let the writes before it land first.
        setImmediate(() => {
          try {
            resolve({ stdout: stdout.text(), stderr: stderr.text(), exitCode: execExitCode(status) })
          } catch (error) {
            reject(new Error(`${where}: ${errorMessage(error)}`, { cause: error }))
          }
        })
      }
      new Exec(kube.config)
        .exec(namespace, pod, container, command, stdout.stream, stderr.stream, null, false, onStatus)
        .then(
          (ws) => {
            socket = ws
            // A stream that closes without a status never ran to the end (the settled promise ignores a late reject).
            ws.on('close', () =>
              setTimeout(() => reject(new Error(`${where}: the connection closed without an exit status`)), 100),
            )
          },
          // A refused WebSocket upgrade is an ErrorEvent ("Unexpected server response: 404"), not an Error.
          (error: unknown) =>
            reject(
              new Error(`${where} was refused: ${(error as { message?: string }).message ?? errorMessage(error)}`, {
                cause: error,
              }),
            ),
        )
    })
  } finally {
    clearTimeout(timer)
    socket?.close()
  }
}

/** An HTTP answer that came through the API server's proxy: `status` is 0 when there was none. */
export interface ProxyAnswer {
  status: number
  body: string
}

/**
 * Waits for a pod proxy call and returns its answer whatever the status, with the body as
 * text: the generated client parses JSON bodies into objects despite its `string` type, and
 * throws on HTTP errors with the body in `error.body`. A 503 whose body is a Kubernetes Status
 * ("error trying to reach service") comes from the API server, not from the pod.
 */
export async function proxyAnswer(request: Promise<unknown>): Promise<ProxyAnswer> {
  try {
    return { status: 200, body: asText(await request) }
  } catch (error) {
    const { status, body } = failedAnswer(error)
    return { status, body }
  }
}

/** What a proxy call that threw answered: the HTTP status and body, or status 0 when nothing answered. */
function failedAnswer(error: unknown): ProxyResponse {
  const { code, body, headers } = error as { code?: unknown; body?: unknown; headers?: Record<string, string> }
  if (typeof code === 'number') return { status: code, body: asText(body), headers: { ...headers } }
  return { status: 0, body: errorMessage(error), headers: {} }
}

/** A proxied answer with the headers the pod sent (names in lower case), which `ProxyAnswer` leaves out. */
export interface ProxyResponse extends ProxyAnswer {
  headers: Record<string, string>
}

/** Where the API server proxies to: one pod, or one of a Service's ready endpoints, picked at random per request. */
export type ProxyTarget = { pod: string } | { service: string }

/**
 * POST a JSON body through the API server's pod or service proxy (the name may carry a port:
 * `name:8080`, `name:http`), with extra request headers if given, and return the answer
 * whatever its status, headers included.
 */
export async function proxyPost(
  kube: KubeContext,
  namespace: string,
  target: ProxyTarget,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<ProxyResponse> {
  const params = { namespace, path: proxyPath(path) }
  const request: Promise<HttpInfo<unknown>> =
    'pod' in target
      ? kube.core.connectPostNamespacedPodProxyWithPathWithHttpInfo(
          { ...params, name: target.pod },
          jsonBody(body, headers),
        )
      : kube.core.connectPostNamespacedServiceProxyWithPathWithHttpInfo(
          { ...params, name: target.service },
          jsonBody(body, headers),
        )
  try {
    const answer = await request
    return { status: answer.httpStatusCode, body: asText(answer.data), headers: { ...answer.headers } }
  } catch (error) {
    return failedAnswer(error)
  }
}

/**
 * A GET through the API server, as `kubectl get --raw` sends it: the status and the body as
 * text, whatever it is (an aggregated API's answer, or the plain text its proxy fails with).
 */
export async function getRaw(kube: KubeContext, path: string): Promise<{ status: number; text: string }> {
  const server = new URL(kube.config.getCurrentCluster()!.server)
  const options = { host: server.hostname, port: server.port, path, method: 'GET' }
  await kube.config.applyToHTTPSOptions(options)
  return new Promise((resolve, reject) => {
    const call = request(options, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => resolve({ status: response.statusCode!, text }))
    })
    call.on('error', reject)
    call.end()
  })
}
