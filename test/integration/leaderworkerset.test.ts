// Step 03's LeaderWorkerSet on the kwok cluster: validated by the real API server against the
// real CRD from sigs.k8s.io/lws, then run by the real LWS controller, whose pod webhook gives
// each pod its place in the group.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { VERSIONS } from '../../scripts/lib/build/binaries.ts'
import { installLwsCrd, LWS_CRD_NAME, startLwsController, type LwsController } from '../support/lws.ts'
import { GPU_RESOURCE } from '../../scripts/lib/cluster/topology.ts'
import { errorMessage } from '../../scripts/lib/errors.ts'
import { apply, connect, isNotFound, KWOK_NODE_ANNOTATION } from '../../scripts/lib/kube.ts'
import { manifestFiles, readManifests } from '../../scripts/lib/manifests.ts'
import { deleteNamespaces, labNamespaces } from '../../scripts/lib/namespaces.ts'
import { PROJECT, repoRoot } from '../../scripts/lib/project.ts'
import { pollUntil } from '../../scripts/lib/poll.ts'

const kube = connect(inject('kubeContext'))
const quiet = () => {}
const namespace = 'lws-behaviour'
const stepDir = join(repoRoot, 'steps', '03-multi-node-tp', 'leaderworkerset')

interface LeaderWorkerSet extends KubernetesObject {
  spec: {
    replicas?: number
    leaderWorkerTemplate: { size?: number | string; [field: string]: unknown }
    networkConfig?: { subdomainPolicy?: string }
  }
}

/** When step 03's leaderworkerset/ folder is missing or empty: the smallest LWS that makes a group of two. */
const ownLeaderWorkerSet: LeaderWorkerSet = {
  apiVersion: 'leaderworkerset.x-k8s.io/v1',
  kind: 'LeaderWorkerSet',
  metadata: { name: 'llama-3-70b', namespace },
  spec: {
    replicas: 1,
    leaderWorkerTemplate: {
      size: 2,
      workerTemplate: {
        spec: {
          containers: [
            {
              name: 'model-server',
              image: 'multi-node-serving-lab/workloads:0.1.0',
              imagePullPolicy: 'IfNotPresent',
              resources: { limits: { [GPU_RESOURCE]: 1 } },
            },
          ],
        },
      },
    },
  },
}

/**
 * The step's objects moved into this suite's namespace, which takes the Pod Security labels of
 * the step's Namespace; without the step's folder, our own LeaderWorkerSet.
 */
async function manifestsUnderTest(): Promise<{
  source: string
  namespaceLabels: Record<string, string>
  objects: KubernetesObject[]
}> {
  if (!existsSync(stepDir) || (await manifestFiles(stepDir)).length === 0)
    return { source: 'the suite’s own LeaderWorkerSet', namespaceLabels: {}, objects: [ownLeaderWorkerSet] }
  const all = await readManifests(stepDir)
  const objects = all
    .filter((object) => object.kind !== 'Namespace')
    .map((object) =>
      object.metadata?.namespace || object.kind === 'LeaderWorkerSet'
        ? { ...object, metadata: { ...object.metadata, namespace } }
        : object,
    )
  const podSecurity = Object.entries(all.find((o) => o.kind === 'Namespace')?.metadata?.labels ?? {}).filter(([key]) =>
    key.startsWith('pod-security.kubernetes.io/'),
  )
  return { source: 'steps/03-multi-node-tp/leaderworkerset', namespaceLabels: Object.fromEntries(podSecurity), objects }
}

const { source, namespaceLabels, objects } = await manifestsUnderTest()
const leaderWorkerSets = objects.filter((o): o is LeaderWorkerSet => o.kind === 'LeaderWorkerSet')

/** The observation once it holds, or the last one when the time is up (the assertions then say what was seen). */
const eventually = async <T>(observe: () => Promise<T>, holds: (value: T) => boolean, timeoutMs = 60_000): Promise<T> =>
  (await pollUntil(observe, holds, { timeoutMs, intervalMs: 500 })).value

const dryRunApply = async (object: KubernetesObject) => (await apply(kube, [object], { dryRun: true }))[0]!

async function deleteCrd(): Promise<void> {
  const crds = kube.config.makeApiClient(ApiextensionsV1Api)
  try {
    await crds.deleteCustomResourceDefinition({ name: LWS_CRD_NAME })
  } catch (error) {
    if (!isNotFound(error)) throw error
  }
}

beforeAll(async () => {
  await deleteNamespaces(kube, [namespace], quiet)
  await apply(kube, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: namespaceLabels } } as KubernetesObject,
  ])
  await installLwsCrd(kube)
})
afterAll(async () => {
  await deleteNamespaces(kube, [namespace], quiet)
  await deleteCrd()
})

describe(`${source} against the LeaderWorkerSet CRD of sigs.k8s.io/lws@${VERSIONS.lws}`, () => {
  it('has at least one LeaderWorkerSet', () => {
    expect(leaderWorkerSets.length).toBeGreaterThan(0)
  })

  it('is accepted by server-side apply (dry run: the API server validates it against the CRD’s schema)', async () => {
    for (const object of objects) {
      const answer = await dryRunApply(object).catch((error: unknown) => {
        throw new Error(`${object.kind}/${object.metadata!.name}: ${errorMessage(error)}`)
      })
      expect(answer.metadata?.name).toBe(object.metadata!.name)
    }
    // A dry run persists nothing.
    const stored = await kube.objects.list('leaderworkerset.x-k8s.io/v1', 'LeaderWorkerSet', namespace)
    expect(stored.items).toEqual([])
  })

  // Server-side apply builds a typed object from the CRD's schema first (wrong types and unknown
  // fields fail there, whatever the fieldValidation), then validates it against the schema.
  const mistakes: [string, (spec: LeaderWorkerSet['spec'] & Record<string, unknown>) => void, RegExp][] = [
    [
      'a size that is not a number',
      (spec) => (spec.leaderWorkerTemplate.size = 'two'),
      /\.spec\.leaderWorkerTemplate\.size: expected numeric/,
    ],
    [
      'a field the schema does not know',
      (spec) => (spec.leaderWorkerTemplate.workersPerGroup = 2),
      /\.spec\.leaderWorkerTemplate\.workersPerGroup: field not declared in schema/,
    ],
    [
      'a startup policy LWS does not have',
      (spec) => (spec.startupPolicy = 'LeaderStarted'),
      /spec\.startupPolicy: Unsupported value: "LeaderStarted"/,
    ],
  ]
  it.each(mistakes)('refuses %s, naming the field', async (_title, breakIt, message) => {
    const broken = structuredClone(leaderWorkerSets[0]!)
    breakIt(broken.spec)
    const error = await dryRunApply(broken).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error, 'the API server accepted it').toBeDefined()
    expect(errorMessage(error)).toMatch(message)
  })
})

/** The names of the lab's LWS webhook configurations in the cluster. */
async function labWebhookNames(): Promise<string[]> {
  const admission = kube.config.makeApiClient(AdmissionregistrationV1Api)
  const names = [
    ...(await admission.listMutatingWebhookConfiguration()).items,
    ...(await admission.listValidatingWebhookConfiguration()).items,
  ].map((c) => c.metadata!.name!)
  return names.filter((name) => name.startsWith(`${PROJECT}-lws-`))
}

/** Every pod the controller should make: per group, the leader `<name>-<group>` and workers `<name>-<group>-<index>`. */
function expectedPods(lws: LeaderWorkerSet) {
  const name = lws.metadata!.name!
  const size = Number(lws.spec.leaderWorkerTemplate.size ?? 1)
  return Array.from({ length: lws.spec.replicas ?? 1 }, (_, group) => {
    const leader = `${name}-${group}`
    // LWS_LEADER_ADDRESS is <leader>.<subdomain>.<namespace> (pkg/utils/pod AddLWSVariables); the
    // subdomain is the set's headless Service, or one per group with UniquePerReplica.
    const subdomain = lws.spec.networkConfig?.subdomainPolicy === 'UniquePerReplica' ? leader : name
    return Array.from({ length: size }, (_, worker) => ({
      name: worker === 0 ? leader : `${leader}-${worker}`,
      labels: {
        'leaderworkerset.sigs.k8s.io/name': name,
        'leaderworkerset.sigs.k8s.io/group-index': String(group),
        'leaderworkerset.sigs.k8s.io/worker-index': String(worker),
      },
      env: {
        LWS_LEADER_ADDRESS: `${leader}.${subdomain}.${namespace}`,
        LWS_GROUP_SIZE: String(size),
        LWS_WORKER_INDEX: String(worker),
      },
    }))
  }).flat()
}

describe(`${source} run by the LeaderWorkerSet controller ${VERSIONS.lws}`, () => {
  let controller: LwsController | undefined
  const expected = leaderWorkerSets.flatMap(expectedPods)
  const podsOf = async () =>
    (await kube.core.listNamespacedPod({ namespace, labelSelector: 'leaderworkerset.sigs.k8s.io/name' })).items
  const byName = (pods: V1Pod[]) => new Map(pods.map((pod) => [pod.metadata!.name!, pod]))
  const logHint = () => `controller log: ${controller?.logFile}`

  beforeAll(async () => {
    // Like the step runner, one step at a time: the other steps' pods would hold the GPUs.
    await deleteNamespaces(
      kube,
      (await labNamespaces(kube)).filter((n) => n !== namespace),
      quiet,
    )
    controller = await startLwsController(kube, quiet)
    await apply(kube, objects)
  }, 15 * 60_000) // a first run builds the controller (about 2 minutes from an empty Go cache)
  afterAll(async () => {
    await controller?.stop()
  })

  it('creates the leader and worker pods, named as LWS names them', async () => {
    const pods = await eventually(podsOf, (items) => items.length >= expected.length)
    expect(pods.map((p) => p.metadata!.name).sort(), logHint()).toEqual(expected.map((p) => p.name).sort())
  })

  it('its pod webhook gives every container LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and LWS_WORKER_INDEX', async () => {
    const pods = byName(await podsOf())
    for (const want of expected) {
      for (const container of pods.get(want.name)?.spec?.containers ?? []) {
        const lwsEnv = Object.fromEntries(
          (container.env ?? []).filter((e) => e.name.startsWith('LWS_')).map((e) => [e.name, e.value]),
        )
        expect(lwsEnv, `${want.name}/${container.name}; ${logHint()}`).toEqual(want.env)
      }
      expect(pods.get(want.name)?.spec?.containers.length, want.name).toBeGreaterThan(0)
    }
  })

  it('every pod carries its group-index and worker-index labels', async () => {
    const pods = byName(await podsOf())
    for (const want of expected) expect(pods.get(want.name)?.metadata?.labels, want.name).toMatchObject(want.labels)
  })

  it('the pods are scheduled onto kwok GPU nodes and become Ready', async () => {
    const ready = (pod: V1Pod) =>
      pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
    const pods = await eventually(podsOf, (items) => items.length === expected.length && items.every(ready))
    const nodes = new Map((await kube.core.listNode()).items.map((node) => [node.metadata!.name!, node]))
    for (const pod of pods) {
      const node = nodes.get(pod.spec?.nodeName ?? '')
      expect(node, `${pod.metadata!.name} is bound to a node`).toBeDefined()
      expect(node!.metadata!.annotations![KWOK_NODE_ANNOTATION]).toBe('fake')
      expect(
        Number(node!.status!.allocatable![GPU_RESOURCE] ?? 0),
        `${pod.metadata!.name} is on a GPU node`,
      ).toBeGreaterThan(0)
      expect(ready(pod), `${pod.metadata!.name} is Ready`).toBe(true)
    }
  })

  it('the LeaderWorkerSet counts its groups ready', async () => {
    for (const lws of leaderWorkerSets) {
      const header = {
        apiVersion: lws.apiVersion!,
        kind: lws.kind!,
        metadata: { name: lws.metadata!.name!, namespace },
      }
      const read = () =>
        kube.objects.read(header) as Promise<KubernetesObject & { status?: { readyReplicas?: number } }>
      const current = await eventually(read, (o) => o.status?.readyReplicas === (lws.spec.replicas ?? 1))
      expect(current.status?.readyReplicas, logHint()).toBe(lws.spec.replicas ?? 1)
    }
  })

  it('stop() removes the webhook configurations it added', async () => {
    expect(await labWebhookNames()).toHaveLength(2)
    await controller!.stop()
    expect(await labWebhookNames()).toEqual([])
  })
})
