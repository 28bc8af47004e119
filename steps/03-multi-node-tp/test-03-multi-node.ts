#!/usr/bin/env -S npx tsx
// Step 03 verification: one model server made of two pods, one per GPU node, that form a group.
// Runs alone (`npx tsx steps/03-multi-node-tp/test-03-multi-node.ts [--context NAME] [--json]`)
// and is what `npm run step 03` runs after applying the step.
import type { V1Container, V1EnvVar } from '@kubernetes/client-node'
import { check, fail, NAMESPACE, pass, type Check, type CheckEnv } from '../../scripts/lib/checks/check.ts'
import { apiServerAnswer, kubectl, list, nameOf, podNotReachedHint, podsOf } from '../../scripts/lib/checks/kit.ts'
import { isMain, runStandalone } from '../../scripts/lib/checks/standalone.ts'
import { podProxyGet, podProxyPost, proxyAnswer } from '../../scripts/lib/kube.ts'
import type { GroupStatus } from '../../workloads/model-server/group/group.ts'

const SET = 'llama-3-70b'
const SERVICE = 'llama-3-70b'
const NNODES = 2
const GPUS_PER_NODE = 4
const WORLD_SIZE = NNODES * GPUS_PER_NODE
const TP = 4
const PP = 2
const GPU = 'nvidia.com/gpu'
const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product'
const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index'
const MODEL = 'meta-llama/Meta-Llama-3-70B-Instruct'
const LEADER = `${SET}-0`
const WORKER = `${SET}-1`
const ranks = Array.from({ length: NNODES }, (_, i) => `${SET}-${i}`)
const ordinalOf = (pod: string) => Number(pod.slice(SET.length + 1))

const gpusOf = (containers: readonly V1Container[]) =>
  containers.reduce((sum, c) => sum + Number(c.resources?.limits?.[GPU] ?? 0), 0)

export interface PlacementObservation {
  pods: { name: string; node?: string }[]
  /** The GPU product label of every node, by node name. */
  products: Record<string, string | undefined>
}

export const separateNodes = check({
  id: 'separate-nodes',
  title: 'the ranks run on different GPU nodes',
  needs: 'api',
  async observe(env): Promise<PlacementObservation> {
    const nodes = await env.kube.core.listNode()
    return {
      pods: (await podsOf(env, SET)).map((pod) => ({ name: nameOf(pod), node: pod.spec?.nodeName })),
      products: Object.fromEntries(
        nodes.items.map((node) => [node.metadata!.name!, node.metadata?.labels?.[GPU_PRODUCT_LABEL]]),
      ),
    }
  },
  evaluate({ pods, products }: PlacementObservation) {
    if (pods.length < NNODES) {
      return fail(
        `${NNODES} rank pods`,
        `${pods.length}: ${list(pods.map((p) => p.name))}`,
        `not every rank exists yet: ${kubectl(`describe statefulset ${SET}`)}`,
      )
    }
    const unscheduled = pods.filter((pod) => !pod.node)
    if (unscheduled.length > 0) {
      return fail(
        'every rank on a node',
        `not scheduled: ${list(unscheduled.map((p) => p.name))}`,
        `${kubectl(`describe pod ${unscheduled[0]!.name}`)}: "Insufficient nvidia.com/gpu" means another step still holds the GPUs; ` +
          `"didn't match pod anti-affinity rules" means only one node fits`,
      )
    }
    const nodes = pods.map((pod) => pod.node!)
    if (new Set(nodes).size < nodes.length) {
      return fail(
        'one rank per node',
        list(pods.map((p) => `${p.name} on ${p.node}`)),
        'two ranks share a node: a required podAntiAffinity on kubernetes.io/hostname keeps them apart (a preferred one does not)',
      )
    }
    const notGpu = pods.filter((pod) => !products[pod.node!])
    if (notGpu.length > 0) {
      return fail(
        `nodes labelled ${GPU_PRODUCT_LABEL}`,
        list(notGpu.map((p) => `${p.name} on ${p.node} (no GPU product label)`)),
        `a node affinity on ${GPU_PRODUCT_LABEL} keeps the ranks on the GPU nodes the group is sized for`,
      )
    }
    return pass
  },
})

export interface GpuObservation {
  pods: { name: string; gpus: number; node?: string; allocatable?: number }[]
}

export const fourGpus = check({
  id: 'four-gpus',
  title: `each rank got ${GPUS_PER_NODE} GPUs`,
  needs: 'api',
  async observe(env): Promise<GpuObservation> {
    const nodes = await env.kube.core.listNode()
    const allocatable = new Map(nodes.items.map((node) => [node.metadata!.name!, node.status?.allocatable?.[GPU]]))
    return {
      pods: (await podsOf(env, SET)).map((pod) => {
        const node = pod.spec?.nodeName
        const gpus = node ? allocatable.get(node) : undefined
        return {
          name: nameOf(pod),
          gpus: gpusOf(pod.spec!.containers),
          node,
          allocatable: gpus === undefined ? undefined : Number(gpus),
        }
      }),
    }
  },
  evaluate({ pods }: GpuObservation) {
    if (pods.length < NNODES) {
      return fail(
        `${NNODES} rank pods`,
        `${pods.length} pods`,
        `not every rank exists yet: ${kubectl(`describe statefulset ${SET}`)}`,
      )
    }
    const short = pods.filter((pod) => pod.gpus !== GPUS_PER_NODE)
    if (short.length > 0) {
      return fail(
        `${GPU}: ${GPUS_PER_NODE} on every rank`,
        list(short.map((p) => `${p.name}: ${p.gpus}`)),
        `set resources.limits.${GPU}: ${GPUS_PER_NODE} (GPUS_PER_NODE): each rank runs one process per GPU`,
      )
    }
    const small = pods.filter((pod) => pod.node && (pod.allocatable ?? 0) < GPUS_PER_NODE)
    if (small.length > 0) {
      return fail(
        `nodes with ${GPUS_PER_NODE} allocatable GPUs`,
        list(small.map((p) => `${p.node}: ${p.allocatable ?? 0}`)),
        'the node advertises fewer GPUs than the rank holds: is the NVIDIA device plugin running? (kubectl describe node)',
      )
    }
    return pass
  },
})

export interface SettingsObservation {
  replicas: number
  policy: string
  gpus: number
  args: string[]
  /** Each variable's value, or `fieldRef:PATH` when it comes from the downward API. */
  env: Record<string, string>
}

const flag = (args: readonly string[], name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}

/** A variable's value as the observation records it: `fieldRef:PATH` when the downward API sets it. */
const valueOf = ({ value, valueFrom }: V1EnvVar) =>
  valueFrom?.fieldRef ? `fieldRef:${valueFrom.fieldRef.fieldPath}` : (value ?? '')

export const settingsAgree = check({
  id: 'settings-agree',
  title: `the group's numbers add up: world size ${WORLD_SIZE} = ${NNODES} pods × ${GPUS_PER_NODE} GPUs = TP ${TP} × PP ${PP}`,
  needs: 'api',
  async observe(env): Promise<SettingsObservation> {
    const set = await env.kube.apps.readNamespacedStatefulSet({ name: SET, namespace: env.namespace })
    const containers = set.spec!.template.spec!.containers
    const server = containers[0]!
    return {
      replicas: set.spec?.replicas ?? 1,
      policy: set.spec?.podManagementPolicy ?? 'OrderedReady',
      gpus: gpusOf(containers),
      args: server.args ?? [],
      env: Object.fromEntries((server.env ?? []).map((v) => [v.name, valueOf(v)])),
    }
  },
  evaluate({ replicas, policy, gpus, args, env }: SettingsObservation) {
    const rankFrom = `fieldRef:metadata.labels['${POD_INDEX_LABEL}']`
    if (env.NODE_RANK !== rankFrom) {
      return fail(
        `NODE_RANK from ${rankFrom}`,
        `NODE_RANK ${env.NODE_RANK ?? 'unset'}`,
        `each pod must learn its own rank: the downward API gives it the ordinal from the ${POD_INDEX_LABEL} label`,
      )
    }
    if (Number(env.NNODES) !== replicas) {
      return fail(
        `NNODES = replicas (${replicas})`,
        `NNODES ${env.NNODES ?? 'unset'}`,
        'NNODES counts the pods of the group, which the StatefulSet has as replicas',
      )
    }
    if (Number(env.GPUS_PER_NODE) !== gpus) {
      return fail(
        `GPUS_PER_NODE = the GPUs in the limits (${gpus})`,
        `GPUS_PER_NODE ${env.GPUS_PER_NODE ?? 'unset'}`,
        'one process per GPU: GPUS_PER_NODE must match resources.limits.nvidia.com/gpu',
      )
    }
    const world = replicas * gpus
    if (env.WORLD_SIZE !== undefined && Number(env.WORLD_SIZE) !== world) {
      return fail(
        `WORLD_SIZE ${world} (${replicas} pods × ${gpus} GPUs)`,
        `WORLD_SIZE ${env.WORLD_SIZE}`,
        'the world size counts processes, one per GPU, not pods',
      )
    }
    const tp = Number(flag(args, '--tensor-parallel-size') ?? 1)
    const pp = Number(flag(args, '--pipeline-parallel-size') ?? 1)
    if (tp * pp !== world) {
      return fail(
        `tensor × pipeline parallel size = ${world}`,
        `${tp} × ${pp} = ${tp * pp}`,
        `every process holds one piece of the model: usually TP = GPUs per node (${gpus}) and PP = nodes (${replicas})`,
      )
    }
    if (!env.MASTER_ADDR?.startsWith(`${LEADER}.${SERVICE}.`)) {
      return fail(
        `MASTER_ADDR ${LEADER}.${SERVICE}.${NAMESPACE}.svc.cluster.local`,
        `MASTER_ADDR ${env.MASTER_ADDR ?? 'unset'}`,
        "every rank must reach rank 0 by its DNS name under the headless Service; the Service's own name would give any pod",
      )
    }
    if (policy !== 'Parallel') {
      return fail(
        'podManagementPolicy Parallel',
        `podManagementPolicy ${policy}`,
        'with OrderedReady, pod 1 waits for pod 0 to be Ready, and pod 0 is Ready only once pod 1 joined: the group never forms',
      )
    }
    return pass
  },
})

/** What a rank answers on GET /group: the model server's own type. */
export type Group = GroupStatus

/** An HTTP answer through the pod proxy: `status` 0 when nothing answered. */
export interface Answer {
  pod: string
  status: number
  body: string
}

async function groupAnswer(env: CheckEnv, pod: string): Promise<Answer> {
  return { pod, ...(await proxyAnswer(podProxyGet(env.kube, env.namespace, `${pod}:8000`, '/group'))) }
}

function parseGroup(body: string): Group | undefined {
  try {
    return JSON.parse(body) as Group
  } catch {
    return undefined
  }
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i)
const sameNumbers = (a: readonly number[] | undefined, b: readonly number[]) =>
  JSON.stringify([...(a ?? [])].sort((x, y) => x - y)) === JSON.stringify(b)

export const groupFormed = check({
  id: 'group-formed',
  title: `both ranks joined one group, with world size ${WORLD_SIZE}`,
  needs: 'pods',
  observe: (env) => Promise.all(ranks.map((pod) => groupAnswer(env, pod))),
  evaluate(answers: Answer[]) {
    const groups: Group[] = []
    for (const answer of answers) {
      const group = answer.status === 200 ? parseGroup(answer.body) : undefined
      if (!group) {
        return fail(
          `${answer.pod} answers GET /group`,
          `${answer.pod}: ${answer.status || 'no answer'}`,
          `is the server running? ${kubectl(`logs ${answer.pod}`)} (exit code 2 means a configuration error, named in the log)`,
        )
      }
      const rank = ordinalOf(answer.pod)
      if (group.nodeRank !== rank) {
        return fail(
          `${answer.pod} is node rank ${rank}`,
          `node rank ${group.nodeRank}`,
          `NODE_RANK must come from the pod's ${POD_INDEX_LABEL} label`,
        )
      }
      if (group.state !== 'ready') {
        return fail(
          `${answer.pod}'s group ready`,
          `${answer.pod}: ${group.state}, members ${JSON.stringify(group.members)}${group.reason ? ` (${group.reason})` : ''}`,
          `a rank is missing: every rank must reach ${group.leader} (MASTER_ADDR:MASTER_PORT) by its DNS name, ` +
            'which exists before rank 0 is ready only if the headless Service has publishNotReadyAddresses: true; ' +
            kubectl(`logs ${answer.pod}`),
        )
      }
      if (group.worldSize !== WORLD_SIZE || group.nnodes !== NNODES) {
        return fail(
          `world size ${WORLD_SIZE} over ${NNODES} nodes`,
          `world size ${group.worldSize} over ${group.nnodes} nodes`,
          'the world size counts processes (NNODES × GPUS_PER_NODE), not pods',
        )
      }
      const expected = range(rank * GPUS_PER_NODE, GPUS_PER_NODE)
      if (!sameNumbers(group.globalRanks, expected)) {
        return fail(
          `${answer.pod} holds global ranks ${expected.join(', ')}`,
          `global ranks ${JSON.stringify(group.globalRanks)}`,
          'global rank = node rank × GPUs per node + local rank: check GPUS_PER_NODE',
        )
      }
      if (!sameNumbers(group.members, range(0, NNODES))) {
        return fail(
          `members ${JSON.stringify(range(0, NNODES))}`,
          `members ${JSON.stringify(group.members)}`,
          'a ready group has every node rank in it',
        )
      }
      groups.push(group)
    }
    const [leader, ...others] = groups
    const apart = others.find((g) => g.generation !== leader!.generation || g.leader !== leader!.leader)
    if (apart) {
      return fail(
        `one group: generation ${leader!.generation}, leader ${leader!.leader}`,
        list(groups.map((g) => `rank ${g.nodeRank}: generation ${g.generation}, leader ${g.leader}`)),
        'the ranks disagree about their group: one of them is re-forming, or MASTER_ADDR differs between pods',
      )
    }
    return pass
  },
})

const COMPLETION = { model: MODEL, prompt: 'A model too large for one server', max_tokens: 8 }

export const leaderServes = check({
  id: 'leader-serves',
  title: 'a completion through rank 0 works',
  needs: 'pods',
  async observe(env): Promise<Answer> {
    return {
      pod: LEADER,
      ...(await proxyAnswer(podProxyPost(env.kube, env.namespace, `${LEADER}:8000`, '/v1/completions', COMPLETION))),
    }
  },
  evaluate(answer: Answer) {
    let text: unknown
    try {
      text = (JSON.parse(answer.body) as { choices?: { text?: unknown }[] }).choices?.[0]?.text
    } catch {
      text = undefined
    }
    if (answer.status === 200 && typeof text === 'string') return pass
    const apiServerSaid = apiServerAnswer(answer)
    const hint = apiServerSaid
      ? podNotReachedHint(LEADER, apiServerSaid)
      : answer.status === 503
        ? 'rank 0 refuses requests while its group is not formed: see the group check above'
        : answer.status === 404
          ? `the model server knows no such model: the request's model must be its --served-model-name, ${MODEL}`
          : kubectl(`logs ${LEADER}`)
    return fail(
      '200 with a completion from POST /v1/completions',
      `${answer.status || 'no answer'}: ${answer.body.slice(0, 160)}`,
      hint,
    )
  },
})

export const workerRefers = check({
  id: 'worker-refers',
  title: 'rank 1 serves no API and names rank 0 as the leader',
  needs: 'pods',
  async observe(env): Promise<Answer> {
    return { pod: WORKER, ...(await proxyAnswer(podProxyGet(env.kube, env.namespace, `${WORKER}:8000`, '/v1/models'))) }
  },
  evaluate(answer: Answer) {
    if (answer.status === 503 && answer.body.includes(LEADER)) return pass
    const apiServerSaid = apiServerAnswer(answer)
    return fail(
      `503 naming ${LEADER}`,
      `${answer.status || 'no answer'}: ${answer.body.slice(0, 160)}`,
      apiServerSaid
        ? podNotReachedHint(WORKER, apiServerSaid)
        : answer.status === 200
          ? `rank 1 answers as if it led: is its NODE_RANK 1? ${kubectl(`exec ${WORKER} -- env`)}`
          : kubectl(`logs ${WORKER}`),
    )
  },
})

export interface ReformObservation {
  /** Rank 0's generation before rank 1 was deleted. */
  before: number
  /** What showed the group broken since the deletion (not ready, or a new generation); unset until seen. */
  brokenSeen?: string
  /** Rank 0's group now. */
  now: Group
}

/** The first sign, in rank 0's group, that it broke after generation `before`: not ready, or already re-formed. */
export function brokenSign(before: number, now: Group): string | undefined {
  if (now.state !== 'ready') return `state ${now.state} in generation ${now.generation}`
  if (now.generation > before) return `generation ${now.generation} already`
  return undefined
}

/** Deletes rank 1 and follows rank 0's group: it must break, then form again in a new generation. */
function reformCheck() {
  let before = -1
  let brokenSeen: string | undefined
  return check({
    id: 'reforms',
    title: 'deleting rank 1 makes the group unready, then it re-forms',
    needs: 'pods',
    timeoutMs: 180_000,
    async act(env) {
      const answer = await groupAnswer(env, LEADER)
      const group = answer.status === 200 ? parseGroup(answer.body) : undefined
      if (group?.state !== 'ready') {
        const seen = `GET /group answered ${answer.status}: ${answer.body.slice(0, 160)}`
        throw new Error(`rank 0's group must be ready before the experiment; ${seen}`)
      }
      before = group.generation
      brokenSeen = undefined
      await env.kube.core.deleteNamespacedPod({ name: WORKER, namespace: env.namespace })
    },
    async observe(env): Promise<ReformObservation> {
      const answer = await groupAnswer(env, LEADER)
      const now = answer.status === 200 ? parseGroup(answer.body) : undefined
      if (!now) throw new Error(`rank 0 did not answer GET /group (${answer.status}): ${answer.body.slice(0, 160)}`)
      // Remembered across polls: the verdict needs the group seen broken, then seen whole again.
      brokenSeen ??= brokenSign(before, now)
      return { before, now, ...(brokenSeen ? { brokenSeen } : {}) }
    },
    evaluate({ before: was, brokenSeen: broken, now }: ReformObservation) {
      if (!broken) {
        return fail(
          `rank 0's group broken after ${WORKER} was deleted`,
          `still ready in generation ${now.generation}`,
          'not noticed yet: a rank notices a lost peer within about 3 s (heartbeat timeout)',
        )
      }
      if (now.state !== 'ready' || !sameNumbers(now.members, range(0, NNODES))) {
        return fail(
          'the group ready again with both ranks',
          `${now.state}, members ${JSON.stringify(now.members)} (saw ${broken})`,
          `the new ${WORKER} has to start and rejoin: ${kubectl('get pods')}; a replacement left Pending cannot get its GPUs`,
        )
      }
      if (now.generation <= was) {
        return fail(
          `a generation after ${was}`,
          `generation ${now.generation}`,
          'a group that re-forms counts up its generation; the same number means it never broke up',
        )
      }
      return pass
    },
  })
}
export const reforms = reformCheck()

export const checks: Check[] = [
  separateNodes,
  fourGpus,
  settingsAgree,
  groupFormed,
  leaderServes,
  workerRefers,
  reforms,
]

if (isMain(import.meta.url)) await runStandalone(import.meta.url, checks)
