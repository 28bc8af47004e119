import type { KubernetesObject } from '@kubernetes/client-node'
import { check, fail, pass, type CheckEnv } from '../checks/check.ts'
import { isReady, orNull } from '../checks/kit.ts'
import { IMAGE } from '../image.ts'
import { apply, execInPod, getRaw, type KubeContext } from '../kube.ts'
import { deleteNamespaces } from '../namespaces.ts'
import type { EmitEvent } from '../output.ts'
import { PROJECT } from '../project.ts'

/**
 * Checks that the cluster's pod network works and enforces NetworkPolicy: in a namespace of its
 * own, a server and two clients (on another node than the server), a default-deny ingress policy
 * and a policy that lets one client in. Both clients resolve names, so the one that is refused
 * is refused by the policy, not by a broken network. The clients connect from inside (exec goes
 * through the kubelet, which no policy stands in).
 */
export const NETWORK_CHECK_NAMESPACE = 'lab-network-policy'
const SERVER = 'server'
const ALLOWED = 'client-allowed'
const DENIED = 'client-denied'
const PORT = 8080
const CONNECT_TIMEOUT_MS = 3_000

/** An object as applied: KubernetesObject has no place for a spec. */
type Manifest = KubernetesObject & { spec?: object }

const nameLabel = 'app.kubernetes.io/name'
const labels = (name: string) => ({ [nameLabel]: name, 'app.kubernetes.io/part-of': PROJECT })

/** A pod of the workload image that runs a `node -e` script and passes the restricted Pod Security Standard. */
export function probePod(namespace: string, name: string, image: string, script: string, spec: object = {}): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: labels(name) },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 5,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name,
          image,
          imagePullPolicy: 'IfNotPresent',
          command: ['node', '-e', `process.on('SIGTERM', () => process.exit(0)); ${script}`],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
        },
      ],
      ...spec,
    },
  }
}

/** A probe pod's script that does nothing until it is told to stop: commands are run in it by exec. */
export const IDLE = 'setInterval(() => {}, 1 << 30)'
const SERVE = `require('node:http').createServer((_, res) => res.end('ok')).listen(${PORT})`

/** Clients run on a node without the server: the allowed path then crosses the pod network between nodes. */
const awayFromServer = {
  affinity: {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { [nameLabel]: SERVER } }, topologyKey: 'kubernetes.io/hostname' },
      ],
    },
  },
}

/** Everything the checks apply: the namespace (restricted Pod Security enforced), the pods, the two policies. */
export function networkCheckObjects(namespace: string, image: string = IMAGE): Manifest[] {
  const server = probePod(namespace, SERVER, image, SERVE)
  const serverContainer = (server as { spec: { containers: Record<string, unknown>[] } }).spec.containers[0]!
  serverContainer.ports = [{ name: 'http', containerPort: PORT }]
  serverContainer.readinessProbe = { httpGet: { path: '/', port: PORT }, periodSeconds: 2 }
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        labels: { 'app.kubernetes.io/part-of': PROJECT, 'pod-security.kubernetes.io/enforce': 'restricted' },
      },
    },
    server,
    probePod(namespace, ALLOWED, image, IDLE, awayFromServer),
    probePod(namespace, DENIED, image, IDLE, awayFromServer),
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'default-deny-ingress', namespace, labels: labels('default-deny-ingress') },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'server-from-allowed-client', namespace, labels: labels('server-from-allowed-client') },
      spec: {
        podSelector: { matchLabels: { [nameLabel]: SERVER } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { [nameLabel]: ALLOWED } } }],
            ports: [{ protocol: 'TCP', port: PORT }],
          },
        ],
      },
    },
  ]
}

/** Removes the checks' namespace and waits until it is gone. */
export async function removeNetworkCheck(
  kube: KubeContext,
  emit: EmitEvent,
  namespace = NETWORK_CHECK_NAMESPACE,
): Promise<void> {
  await deleteNamespaces(kube, [namespace], emit)
}

export interface PodState {
  name: string
  node?: string
  ip?: string
  ready: boolean
  /** Why its container does not run, when it does not: ErrImageNeverPull, ContainerCreating… */
  waiting?: string
}

async function podState(env: CheckEnv, name: string): Promise<PodState | null> {
  const item = await orNull(env.kube.core.readNamespacedPod({ name, namespace: env.namespace }))
  if (!item) return null
  const waiting = item.status?.containerStatuses?.[0]?.state?.waiting?.reason
  return {
    name,
    ...(item.spec?.nodeName ? { node: item.spec.nodeName } : {}),
    ...(item.status?.podIP ? { ip: item.status.podIP } : {}),
    ready: isReady(item),
    ...(waiting ? { waiting } : {}),
  }
}

/** Runs a `node -e` program in a client; it prints one line of JSON. */
async function runInClient<T>(env: CheckEnv, client: string, program: string, ...args: string[]): Promise<T> {
  const { stdout, stderr } = await execInPod(env.kube, env.namespace, client, client, ['node', '-e', program, ...args])
  try {
    return JSON.parse(stdout) as T
  } catch {
    throw new Error(`${client} printed no result: ${(stdout + stderr).trim().slice(0, 200) || 'nothing'}`)
  }
}

/** Why a pod cannot take part yet, or undefined when it is Ready. */
function notRunning(role: string, state: PodState | null): string | undefined {
  if (state === null) return `no ${role} pod`
  if (state.ready) return undefined
  return `${state.name} is ${state.waiting ?? (state.node ? 'not Ready' : 'not scheduled')}`
}

function notRunningHint(seen: string): string {
  if (/ErrImageNeverPull|ImagePull/.test(seen))
    return `the nodes lack the workload image ${IMAGE}: npm run image, then kind load docker-image ${IMAGE} --name <cluster>`
  if (seen.includes('not scheduled'))
    return 'the clients must run on another node than the server: the cluster needs two schedulable nodes (kubectl get nodes)'
  if (seen.includes('ContainerCreating'))
    return 'the pod network gives the pod no address: kubectl -n kube-system get pods -l k8s-app=kube-router, and its logs'
  return `kubectl -n ${NETWORK_CHECK_NAMESPACE} describe pods names the cause`
}

export interface NameAnswer {
  addresses?: string[]
  error?: string
}

export interface DnsObservation {
  /** The ClusterIP of Service kubernetes in default: what the name must resolve to. */
  expected: string
  clients: { pod: PodState | null; answer?: NameAnswer }[]
}

const LOOKUP = `require('node:dns').lookup(process.argv[1], { all: true }, (error, found) =>
  console.log(JSON.stringify(error ? { error: error.code ?? error.message } : { addresses: found.map((a) => a.address) })))`

export const dnsResolves = check({
  id: 'dns-resolves',
  title: 'pods resolve kubernetes.default through the cluster DNS',
  needs: 'pods',
  timeoutMs: 180_000,
  async act(env) {
    await apply(env.kube, networkCheckObjects(env.namespace))
  },
  async observe(env): Promise<DnsObservation> {
    const service = await env.kube.core.readNamespacedService({ name: 'kubernetes', namespace: 'default' })
    const clients = await Promise.all(
      [ALLOWED, DENIED].map(async (name) => {
        const state = await podState(env, name)
        if (!state?.ready) return { pod: state }
        return { pod: state, answer: await runInClient<NameAnswer>(env, name, LOOKUP, 'kubernetes.default') }
      }),
    )
    return { expected: service.spec?.clusterIP ?? '', clients }
  },
  evaluate({ expected, clients }: DnsObservation) {
    for (const { pod: state, answer } of clients) {
      const why = notRunning('client', state)
      if (why) return fail('both clients running', why, notRunningHint(why))
      if (answer?.addresses?.includes(expected)) continue
      return fail(
        `kubernetes.default to resolve to ${expected} in ${state!.name}`,
        answer?.error ? `lookup failed: ${answer.error}` : `resolved to ${answer?.addresses?.join(', ') || 'nothing'}`,
        answer?.error === 'EAI_AGAIN' || answer?.error === 'ETIMEOUT'
          ? 'no answer from the cluster DNS: is CoreDNS running (kubectl -n kube-system get pods -l k8s-app=kube-dns), and can this pod reach its node and other nodes (kube-router logs)?'
          : 'the name resolved elsewhere or not at all: kubectl -n kube-system logs -l k8s-app=kube-dns',
      )
    }
    return pass
  },
})

export type Outcome = 'answered' | 'refused' | 'timeout' | 'unreachable' | 'error'

export interface Attempt {
  outcome: Outcome
  /** The HTTP status when answered, the error code otherwise. */
  detail?: string
}

export interface ReachObservation {
  server: PodState | null
  client: PodState | null
  attempt?: Attempt
}

/**
 * A `node -e` program that sends GET to host (argv 1), port (argv 2) and path (argv 3, else /),
 * and prints how it ended as an Attempt in JSON: answered, or refused, timed out, unreachable.
 */
export const CONNECT = `const request = require('node:http').get({ host: process.argv[1], port: Number(process.argv[2]), path: process.argv[3] || '/', timeout: ${CONNECT_TIMEOUT_MS} })
const done = (result) => { console.log(JSON.stringify(result)); process.exit(0) }
request.on('response', (res) => done({ outcome: 'answered', detail: String(res.statusCode) }))
request.on('timeout', () => done({ outcome: 'timeout' }))
request.on('error', (error) => done({ outcome: { ECONNREFUSED: 'refused', EHOSTUNREACH: 'unreachable', ENETUNREACH: 'unreachable' }[error.code] ?? 'error', detail: error.code ?? error.message }))`

async function observeReach(env: CheckEnv, client: string): Promise<ReachObservation> {
  const [server, from] = await Promise.all([podState(env, SERVER), podState(env, client)])
  if (!server?.ready || !server.ip || !from?.ready) return { server, client: from }
  return { server, client: from, attempt: await runInClient<Attempt>(env, client, CONNECT, server.ip, String(PORT)) }
}

/** The verdict while either pod is not running, or they share a node; undefined when the experiment can run. */
function setupProblem({ server, client }: ReachObservation): ReturnType<typeof fail> | undefined {
  const why = notRunning('server', server) ?? notRunning('client', client)
  if (why) return fail('the server and the client running', why, notRunningHint(why))
  if (server!.node === client!.node) {
    return fail(
      `${client!.name} on another node than the server`,
      `both on ${server!.node}`,
      'the clients keep away from the server with a required anti-affinity: kubectl get pods -o wide',
    )
  }
  return undefined
}

export const describeAttempt = (attempt: Attempt | undefined) =>
  attempt ? `${attempt.outcome}${attempt.detail ? ` (${attempt.detail})` : ''}` : 'no attempt'

export const allowedReaches = check({
  id: 'allowed-reaches',
  title: 'the allowed client reaches the server on another node',
  needs: 'pods',
  timeoutMs: 90_000,
  observe: (env) => observeReach(env, ALLOWED),
  evaluate(observation: ReachObservation) {
    const problem = setupProblem(observation)
    if (problem) return problem
    const { attempt, server, client } = observation
    if (attempt?.outcome === 'answered') return pass
    const expected = `an answer from ${server!.ip}:${PORT} (${server!.node}) to ${client!.name} (${client!.node})`
    if (attempt?.outcome === 'refused') {
      return fail(
        expected,
        describeAttempt(attempt),
        'refused although the policy server-from-allowed-client lets this client in: the CNI rejects it, so it ignores the allow policy or does not know this pod yet (kube-router logs on the server node)',
      )
    }
    return fail(
      expected,
      describeAttempt(attempt),
      "nothing came back across nodes: the routes between nodes are missing (ip route on each node shows a route to every other node's pod CIDR; kube-router peers over BGP, port 179) or a firewall drops the traffic",
    )
  },
})

export const deniedRefused = check({
  id: 'denied-refused',
  title: 'the default-deny policy keeps the other client out',
  needs: 'pods',
  timeoutMs: 90_000,
  observe: (env) => observeReach(env, DENIED),
  evaluate(observation: ReachObservation) {
    const problem = setupProblem(observation)
    if (problem) return problem
    const { outcome } = observation.attempt ?? { outcome: 'error' }
    if (outcome === 'refused' || outcome === 'timeout' || outcome === 'unreachable') return pass
    if (outcome === 'answered') {
      return fail(
        `${DENIED} refused or timed out by the policy default-deny-ingress`,
        `the server answered it: ${describeAttempt(observation.attempt)}`,
        "NetworkPolicy is not enforced: the cluster's CNI must implement it (kube-router in the node images built here, kindnetd in kind's own, Calico, Cilium; flannel or a routes-only CNI do not). kubectl -n kube-system get pods -l k8s-app=kube-router",
      )
    }
    return fail(
      `${DENIED} refused or timed out`,
      describeAttempt(observation.attempt),
      'the connection failed in another way; the error code names it',
    )
  },
})

const toNumber = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)
const toAddress = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')

/** The highest address of an IPv4 CIDR that no Service holds (below the broadcast address). */
export function unusedServiceAddress(cidr: string, taken: readonly string[]): string {
  const [base, bits] = cidr.split('/')
  const size = 2 ** (32 - Number(bits))
  const first = toNumber(base!)
  const used = new Set(taken)
  for (let n = first + size - 2; n > first; n--) if (!used.has(toAddress(n))) return toAddress(n)
  throw new Error(`every address of ${cidr} is a Service's`)
}

export interface StrayObservation {
  /** The cluster's IPv4 Service range (its ServiceCIDR), or null if it has none. */
  cidr: string | null
  client: PodState | null
  address?: string
  attempt?: Attempt
}

export const serviceAddressesStayInside = check({
  id: 'service-addresses-stay-inside',
  title: 'a connection to a Service address that no rule translates gets no answer from outside the cluster',
  needs: 'pods',
  timeoutMs: 60_000,
  async observe(env): Promise<StrayObservation> {
    const { status, text } = await getRaw(env.kube, '/apis/networking.k8s.io/v1/servicecidrs/kubernetes')
    const cidr =
      status === 200
        ? ((JSON.parse(text) as { spec?: { cidrs?: string[] } }).spec?.cidrs?.find((c) => !c.includes(':')) ?? null)
        : null
    const client = await podState(env, ALLOWED)
    if (!cidr || !client?.ready) return { cidr, client }
    const services = await env.kube.core.listServiceForAllNamespaces()
    const address = unusedServiceAddress(
      cidr,
      services.items.flatMap((service) => service.spec?.clusterIPs ?? []),
    )
    return { cidr, client, address, attempt: await runInClient<Attempt>(env, ALLOWED, CONNECT, address, String(PORT)) }
  },
  evaluate({ cidr, client, address, attempt }: StrayObservation) {
    if (!cidr)
      return fail(
        'the ServiceCIDR kubernetes with an IPv4 range',
        'none',
        'kubectl get servicecidrs (Kubernetes 1.33 and later make one from --service-cluster-ip-range)',
      )
    const why = notRunning('client', client)
    if (why) return fail('the client running', why, notRunningHint(why))
    if (attempt?.outcome !== 'answered') return pass
    return fail(
      `no answer from ${address}:${PORT}, an address of ${cidr} that no Service holds`,
      describeAttempt(attempt),
      "the packet left the node untranslated and something beyond the cluster answered it. A client that keeps that connection (kube-apiserver's APIService probe does) goes on talking to it; the lab's kind clusters drop such packets after kube-proxy's NAT: docker exec <node> iptables -t mangle -S POSTROUTING (scripts/lib/cluster/kind/service-network.ts)",
    )
  },
})

/** In order: DNS first (its act applies the namespace), then the allowed path, the denied one, the stray one. */
export const networkPolicyChecks = [dnsResolves, allowedReaches, deniedRefused, serviceAddressesStayInside] as const
