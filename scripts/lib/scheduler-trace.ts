// A trace of GPU groups arriving and leaving on a cluster that fills, run against the lab's
// scheduler (gangs from PodGroups) or against kube-scheduler (the same groups as plain pods with
// the best plain Kubernetes offers: required pod affinity to keep a group in one rack, a node
// affinity for the GPU memory a group needs). The runner creates and deletes the pods and
// watches what happens; it does not run a scheduler. Shared by the integration test and
// `npm run bench -- scheduler`.
import { setTimeout as sleep } from 'node:timers/promises'
import { CustomObjectsApi, type V1Node, type V1Pod } from '@kubernetes/client-node'
import { GPU_MEMORY_ANNOTATION, POD_GROUP_LABEL, POD_GROUPS } from '../../workloads/scheduler/gangs.ts'
import { oversubscribed, podGpus } from '../../workloads/scheduler/gpu-state.ts'
import { LABELS } from './cluster/topology.ts'
import { isNotFound, type KubeContext } from './kube.ts'

export interface TraceGroup {
  name: string
  pods: number
  gpusPerPod: number
  /** Per-GPU memory need in MiB, 0 for none. */
  memoryMiB: number
  /** The round it arrives in. */
  round: number
}

/** A small deterministic random source (mulberry32), so a trace is the same every run. */
export function seeded(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A group of N GPUs: 1 → one 1-GPU pod; 2, 4, 8 → two pods of N/2; 16 and more → pods of 8. */
const shapeOf = (gpus: number) =>
  gpus === 1
    ? { pods: 1, gpusPerPod: 1 }
    : gpus <= 8
      ? { pods: 2, gpusPerPod: gpus / 2 }
      : { pods: gpus / 8, gpusPerPod: 8 }

/**
 * Groups that fill `gpus` GPUs by about 1.2 in the first round, then `perRound` small ones per
 * round; a large group (`largeGpus`) arrives in round 1, behind the first fill, and one group
 * whose memory need no GPU has arrives in round 0.
 */
export function pressureTrace(options: {
  seed: number
  gpus: number
  rounds: number
  perRound: number
  largeGpus: number
}): TraceGroup[] {
  const random = seeded(options.seed)
  const small = [1, 2, 2, 4, 4, 8]
  const groups: TraceGroup[] = []
  const add = (round: number, gpus: number, memoryMiB = 0, name = `r${round}-g${groups.length}-${gpus}`) =>
    groups.push({ name, ...shapeOf(gpus), memoryMiB, round })
  let filled = 0
  while (filled < options.gpus * 1.2) {
    const gpus = small[Math.floor(random() * small.length)]!
    add(0, gpus)
    filled += gpus
  }
  add(0, 1, 200_000, 'r0-too-much-memory')
  add(1, options.largeGpus, 0, `r1-large-${options.largeGpus}`)
  for (let round = 1; round < options.rounds; round++)
    for (let i = 0; i < options.perRound; i++) add(round, small[Math.floor(random() * small.length)]!)
  return groups
}

export interface TraceRun {
  kube: KubeContext
  namespace: string
  /** `default-scheduler` for kube-scheduler; the lab scheduler's name otherwise. */
  schedulerName: string
  /** The nodes the groups may use: a label and its values (e.g. two racks). */
  nodes: { label: string; values: string[] }
  /** Share of fully bound groups that leave after each round. */
  departures: number
  seed: number
  /** The scheduler is taken to be done once nothing was bound for this long. */
  quietMs?: number
  /** Rounds of "every bound group leaves" after the last arrivals, at most. */
  drainRounds?: number
}

export interface TraceFigures {
  scheduler: string
  groups: number
  /** Groups bound whole at some point. */
  bound: number
  /** Groups never bound, refused by the lab scheduler for a reason no departure changes. */
  refused: number
  /** Groups never bound and not refused when the trace ended. */
  waiting: number
  /** Groups seen partly bound once the scheduler was quiet, at any round. */
  partlyBound: number
  /** Of the groups of more than one pod bound whole: inside one NVLink domain, one rack, wider. */
  multiPod: { nvlink: number; rack: number; wider: number }
  /** After the arrivals, before the drain: free GPUs on partly used nodes, and GPUs held by partly bound groups. */
  strandedGpus: number
  heldByPartialGroups: number
  /** Pods bound per second, each round from its arrivals to quiet. */
  podsPerSecond: number
  /** Seconds from a group's arrival to its last pod bound. */
  waits: { mean: number; max: number; large: number | undefined }
  /** The groups that waited longest, with their wait in seconds (never bound: the wait until the trace ended). */
  longest: [string, number][]
  oversubscribed: string[]
}

const gangLabel = 'trace-group'

function podsOf(run: TraceRun, group: TraceGroup): V1Pod[] {
  const lab = run.schedulerName !== 'default-scheduler'
  return Array.from({ length: group.pods }, (_, i): V1Pod => {
    const matchExpressions = [{ key: run.nodes.label, operator: 'In', values: run.nodes.values }]
    // kube-scheduler cannot read the memory annotation; a node affinity on GFD's label is the plain equivalent.
    if (!lab && group.memoryMiB > 0)
      matchExpressions.push({ key: LABELS.gpuMemory, operator: 'Gt', values: [String(group.memoryMiB - 1)] })
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${group.name}-${i}`,
        namespace: run.namespace,
        labels: lab ? { [gangLabel]: group.name, [POD_GROUP_LABEL]: group.name } : { [gangLabel]: group.name },
        annotations: group.memoryMiB > 0 ? { [GPU_MEMORY_ANNOTATION]: String(group.memoryMiB) } : undefined,
      },
      spec: {
        schedulerName: run.schedulerName,
        terminationGracePeriodSeconds: 0,
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions }] },
          },
          // The best plain Kubernetes can do to keep a group together: every pod in the rack of the others.
          ...(!lab && group.pods > 1
            ? {
                podAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: [
                    { labelSelector: { matchLabels: { [gangLabel]: group.name } }, topologyKey: LABELS.rack },
                  ],
                },
              }
            : {}),
        },
        containers: [
          {
            name: 'rank',
            image: 'serving-lab/none:1',
            resources: { limits: { 'nvidia.com/gpu': String(group.gpusPerPod) } },
          },
        ],
      },
    }
  })
}

/** Runs the trace and returns what it saw; the namespace must exist, and is left empty. */
export async function runTrace(run: TraceRun, groups: TraceGroup[]): Promise<TraceFigures> {
  const { kube, namespace } = run
  const lab = run.schedulerName !== 'default-scheduler'
  const custom = kube.config.makeApiClient(CustomObjectsApi)
  const quietMs = run.quietMs ?? 1000
  const random = seeded(run.seed)
  const selector = `${run.nodes.label} in (${run.nodes.values.join(',')})`
  const nodes: V1Node[] = (await kube.core.listNode({ labelSelector: selector })).items
  const labelsOf = new Map(nodes.map((n) => [n.metadata!.name!, n.metadata!.labels ?? {}]))
  const arrived = new Map<string, number>()
  const boundAt = new Map<string, number>()
  const live = new Set<string>()
  const partial = new Set<string>()
  const over = new Set<string>()
  const multiPod = { nvlink: 0, rack: 0, wider: 0 }
  let pods: V1Pod[] = []

  const groupOf = (pod: V1Pod) => pod.metadata?.labels?.[gangLabel] ?? ''
  const boundPods = () => pods.filter((p) => p.spec?.nodeName)
  async function observe(): Promise<void> {
    pods = (await kube.core.listNamespacedPod({ namespace })).items
    for (const [node, excess] of oversubscribed(nodes, pods)) over.add(`${node} +${excess}`)
    const now = performance.now()
    for (const name of live) {
      const mine = pods.filter((p) => groupOf(p) === name)
      if (boundAt.has(name) || mine.length === 0 || !mine.every((p) => p.spec?.nodeName)) continue
      boundAt.set(name, now)
      if (mine.length > 1) {
        const placed = mine.map((p) => p.spec!.nodeName!)
        const domains = new Set(placed.map((n) => labelsOf.get(n)?.[LABELS.nvlinkDomain] ?? `node/${n}`))
        if (domains.size === 1) multiPod.nvlink++
        else if (new Set(placed.map((n) => labelsOf.get(n)?.[LABELS.rack])).size === 1) multiPod.rack++
        else multiPod.wider++
      }
    }
  }
  /** Until every live group is bound, or each of its unbound pods is marked Unschedulable, and nothing binds for quietMs. */
  async function settle(): Promise<void> {
    let count = -1
    let since = performance.now()
    const deadline = performance.now() + 60_000
    while (performance.now() < deadline) {
      await observe()
      const bound = boundPods().length
      if (bound !== count) [count, since] = [bound, performance.now()]
      const decided = pods.every(
        (p) => p.spec?.nodeName || p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False'),
      )
      if (decided && performance.now() - since >= quietMs) break
      await sleep(150)
    }
    for (const name of live) {
      const mine = pods.filter((p) => groupOf(p) === name)
      const n = mine.filter((p) => p.spec?.nodeName).length
      if (n > 0 && n < mine.length) partial.add(name)
    }
  }
  async function create(batch: TraceGroup[]): Promise<void> {
    if (lab)
      await Promise.all(
        batch.map((g) =>
          custom.createNamespacedCustomObject({
            ...POD_GROUPS,
            namespace,
            body: {
              apiVersion: `${POD_GROUPS.group}/${POD_GROUPS.version}`,
              kind: 'PodGroup',
              metadata: { name: g.name, namespace },
              spec: { minMember: g.pods },
            },
          }),
        ),
      )
    const now = performance.now()
    for (const g of batch) {
      arrived.set(g.name, now)
      live.add(g.name)
    }
    await Promise.all(
      batch.flatMap((g) => podsOf(run, g).map((body) => kube.core.createNamespacedPod({ namespace, body }))),
    )
  }
  async function remove(names: string[]): Promise<void> {
    await Promise.all(
      names.map((name) =>
        kube.core.deleteCollectionNamespacedPod({
          namespace,
          labelSelector: `${gangLabel}=${name}`,
          gracePeriodSeconds: 0,
        }),
      ),
    )
    if (lab)
      await Promise.all(
        names.map((name) =>
          custom.deleteNamespacedCustomObject({ ...POD_GROUPS, namespace, name }).catch((e: unknown) => {
            if (!isNotFound(e)) throw e
          }),
        ),
      )
    for (const name of names) live.delete(name)
    while ((await kube.core.listNamespacedPod({ namespace })).items.some((p) => names.includes(groupOf(p))))
      await sleep(100)
  }
  const fullyBound = () => [...live].filter((name) => boundAt.has(name))

  let bindingSeconds = 0
  let podsBound = 0
  const rounds = Math.max(...groups.map((g) => g.round)) + 1
  for (let round = 0; round < rounds; round++) {
    const before = boundPods().length
    const started = performance.now()
    await create(groups.filter((g) => g.round === round))
    await settle()
    bindingSeconds += (performance.now() - started - quietMs) / 1000
    podsBound += boundPods().length - before
    if (round === rounds - 1) break
    await remove(fullyBound().filter(() => random() < run.departures))
    await observe()
  }
  const used = new Map<string, number>()
  for (const pod of boundPods()) used.set(pod.spec!.nodeName!, (used.get(pod.spec!.nodeName!) ?? 0) + podGpus(pod))
  const strandedGpus = [...used.values()].filter((u) => u < 8).reduce((sum, u) => sum + 8 - u, 0)
  const heldByPartialGroups = boundPods()
    .filter((p) => !boundAt.has(groupOf(p)))
    .reduce((sum, p) => sum + podGpus(p), 0)
  // Drain: every group bound whole leaves, until nothing more binds.
  for (let round = 0; round < (run.drainRounds ?? 8); round++) {
    const leaving = fullyBound()
    if (leaving.length === 0) break
    const boundBefore = boundAt.size
    await remove(leaving)
    await settle()
    if (boundAt.size === boundBefore) break
  }
  const refusedNames = new Set<string>()
  if (lab)
    for (const event of (await kube.core.listNamespacedEvent({ namespace, fieldSelector: 'reason=FailedScheduling' }))
      .items)
      if (event.message?.includes('cannot fit even if every pod left'))
        refusedNames.add((event.involvedObject.name ?? '').replace(/-\d+$/, ''))
  const waits = [...boundAt].map(([name, at]) => (at - arrived.get(name)!) / 1000)
  const ended = performance.now()
  const longest = groups
    .filter((g) => !refusedNames.has(g.name))
    .map((g): [string, number] => [g.name, ((boundAt.get(g.name) ?? ended) - arrived.get(g.name)!) / 1000])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
  const large = groups.find((g) => g.name.startsWith('r1-large'))
  const never = groups.filter((g) => !boundAt.has(g.name))
  const figures: TraceFigures = {
    scheduler: lab ? run.schedulerName : 'kube-scheduler',
    groups: groups.length,
    bound: boundAt.size,
    refused: never.filter((g) => refusedNames.has(g.name)).length,
    waiting: never.filter((g) => !refusedNames.has(g.name)).length,
    partlyBound: partial.size,
    multiPod,
    strandedGpus,
    heldByPartialGroups,
    podsPerSecond: podsBound / Math.max(bindingSeconds, 0.001),
    waits: {
      mean: waits.reduce((a, b) => a + b, 0) / Math.max(waits.length, 1),
      max: Math.max(0, ...waits),
      large:
        large && boundAt.has(large.name) ? (boundAt.get(large.name)! - arrived.get(large.name)!) / 1000 : undefined,
    },
    longest,
    oversubscribed: [...over],
  }
  await remove([...live])
  return figures
}

/** The figures as a few lines, one scheduler per column. */
export function formatFigures(all: TraceFigures[]): string {
  const rows: [string, (f: TraceFigures) => string][] = [
    ['groups (bound whole / refused / still waiting)', (f) => `${f.groups} (${f.bound} / ${f.refused} / ${f.waiting})`],
    ['groups seen partly bound when quiet', (f) => String(f.partlyBound)],
    [
      'multi-pod groups: one NVLink domain / one rack / wider',
      (f) => `${f.multiPod.nvlink} / ${f.multiPod.rack} / ${f.multiPod.wider}`,
    ],
    ['GPUs stranded on partly used nodes, after arrivals', (f) => String(f.strandedGpus)],
    ['GPUs held by partly bound groups, after arrivals', (f) => String(f.heldByPartialGroups)],
    ['pods bound per second', (f) => f.podsPerSecond.toFixed(1)],
    [
      'wait, arrival to bound: mean / max / the large group (s)',
      (f) => `${f.waits.mean.toFixed(1)} / ${f.waits.max.toFixed(1)} / ${f.waits.large?.toFixed(1) ?? 'never'}`,
    ],
    [
      'waited longest (s)',
      (f) => f.longest.map(([name, s]) => `${name.replace(/^r\d+-g?/, '')} ${s.toFixed(1)}`).join(', '),
    ],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  return [
    `${''.padEnd(width)}  ${all.map((f) => f.scheduler.padEnd(40)).join('')}`,
    ...rows.map(([label, value]) => `${label.padEnd(width)}  ${all.map((f) => value(f).padEnd(40)).join('')}`),
  ].join('\n')
}
