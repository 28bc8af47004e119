#!/usr/bin/env -S npx tsx
// Step 01 verification: what a StatefulSet guarantees that a Deployment does not.
// Runs alone (`npx tsx steps/01-basic-statefulset/test-01-statefulset.ts [--context NAME] [--json]`)
// and is what `npm run step 01` runs after applying the step.
import type { V1Pod } from '@kubernetes/client-node'
import { check, fail, pass, type Check, type CheckEnv } from '../../scripts/lib/checks/check.ts'
import { isReady, kubectl, list, nameOf, podsOf, readySince } from '../../scripts/lib/checks/kit.ts'
import { isMain, runStandalone } from '../../scripts/lib/checks/standalone.ts'
import { podProxyGet, proxyAnswer } from '../../scripts/lib/kube.ts'

const SET = 'llama-3-70b'
const REPLICAS = 3
const DEPLOYMENT = 'llama-3-70b-stateless'
const CLAIM_TEMPLATE = 'model-cache'
const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index'
const expectedNames = Array.from({ length: REPLICAS }, (_, i) => `${SET}-${i}`)
const claimOf = (podName: string) => `${CLAIM_TEMPLATE}-${podName}`
const ordinalOf = (podName: string) => podName.slice(SET.length + 1)
const withIndex = (pod: V1Pod) => ({ name: nameOf(pod), index: pod.metadata?.labels?.[POD_INDEX_LABEL] })
const iso = (date: Date | string | undefined) => (date ? new Date(date).toISOString() : undefined)

export const podNames = check({
  id: 'pod-names',
  title: `the StatefulSet's pods are ${expectedNames.join(', ')}`,
  needs: 'api',
  observe: async (env) => (await podsOf(env, SET)).map(nameOf).sort(),
  evaluate(names: string[]) {
    if (names.join() === expectedNames.join()) return pass
    const strangers = names.filter((n) => !expectedNames.includes(n))
    return fail(
      list(expectedNames),
      list(names),
      strangers.length > 0
        ? `pods named ${list(strangers)} are not ordinals of ${SET}: is this a StatefulSet named ${SET}?`
        : 'not every replica exists yet: the set creates pod N+1 only once pod N is Ready. ' +
            `'${kubectl(`describe statefulset ${SET}`)}', then describe pod on the last one, says why it waits: ` +
            'Insufficient nvidia.com/gpu, a volume claim left unbound (does its storageClassName exist? kubectl get storageclass), ' +
            'or a readiness probe that never passes (a port or path the server does not serve)',
    )
  },
})

export interface OrderObservation {
  policy: string
  pods: { name: string; created: string; ready?: string }[]
}

export const createdInOrder = check({
  id: 'created-in-order',
  title: 'pods were created in order, each after the previous one was Ready',
  needs: 'api',
  async observe(env): Promise<OrderObservation> {
    const set = await env.kube.apps.readNamespacedStatefulSet({ name: SET, namespace: env.namespace })
    const pods = (await podsOf(env, SET)).map((pod) => ({
      name: nameOf(pod),
      created: iso(pod.metadata!.creationTimestamp)!,
      ready: iso(readySince(pod)),
    }))
    return { policy: set.spec?.podManagementPolicy ?? 'OrderedReady', pods }
  },
  evaluate({ policy, pods }: OrderObservation) {
    if (policy !== 'OrderedReady') {
      return fail(
        'podManagementPolicy OrderedReady',
        `podManagementPolicy ${policy}`,
        'Parallel starts every pod at once; a group that must come up rank by rank needs OrderedReady (the default)',
      )
    }
    const byOrdinal = new Map(pods.map((pod) => [Number(ordinalOf(pod.name)), pod]))
    for (const [ordinal, pod] of byOrdinal) {
      for (let lower = 0; lower < ordinal; lower++) {
        const previous = byOrdinal.get(lower)
        if (!previous) {
          return fail(
            `${SET}-${lower} to exist before ${pod.name}`,
            `${pod.name} exists without ${SET}-${lower}`,
            'a lower ordinal is missing: look at the StatefulSet events',
          )
        }
        // A lower pod created later than this one is a replacement, which may come back in any order.
        if (previous.created > pod.created) continue
        if (!previous.ready) {
          return fail(
            `${previous.name} Ready`,
            `${previous.name} not Ready`,
            'the set waits for each pod to be Ready; see why it is not with kubectl describe pod',
          )
        }
        // Timestamps have one-second resolution: equal counts as in order.
        if (previous.ready > pod.created) {
          return fail(
            `${pod.name} created after ${previous.name} was Ready (${previous.ready})`,
            `${pod.name} created at ${pod.created}`,
            'pods started before their predecessors were Ready: is podManagementPolicy Parallel?',
          )
        }
      }
    }
    if (byOrdinal.size === REPLICAS) return pass
    return fail(`${REPLICAS} pods`, `${byOrdinal.size} pods`, 'wait for every replica, or see the StatefulSet events')
  },
})

export interface ClaimObservation {
  pods: { name: string; claim?: string }[]
  claims: { name: string; phase?: string }[]
}

export const ownClaims = check({
  id: 'own-claims',
  title: `each pod has its own volume claim, ${CLAIM_TEMPLATE}-${SET}-N, and it is bound`,
  needs: 'api',
  async observe(env): Promise<ClaimObservation> {
    const pods = (await podsOf(env, SET)).map((pod) => ({
      name: nameOf(pod),
      claim: pod.spec?.volumes?.find((v) => v.name === CLAIM_TEMPLATE)?.persistentVolumeClaim?.claimName,
    }))
    const claims = await env.kube.core.listNamespacedPersistentVolumeClaim({ namespace: env.namespace })
    return { pods, claims: claims.items.map((c) => ({ name: c.metadata!.name!, phase: c.status?.phase })) }
  },
  evaluate({ pods, claims }: ClaimObservation) {
    if (pods.length < REPLICAS)
      return fail(`${REPLICAS} pods with claims`, `${pods.length} pods`, 'not every replica exists yet')
    for (const pod of pods) {
      if (!pod.claim) {
        return fail(
          `${pod.name} mounts a claim named ${claimOf(pod.name)}`,
          `${pod.name} has no volume '${CLAIM_TEMPLATE}' from a claim`,
          `add a volumeClaimTemplate named ${CLAIM_TEMPLATE}; a volume in the pod template would be shared or ephemeral`,
        )
      }
      if (pod.claim !== claimOf(pod.name)) {
        return fail(
          `claim ${claimOf(pod.name)}`,
          `claim ${pod.claim}`,
          'the claim should come from volumeClaimTemplates, which name it <template>-<pod>',
        )
      }
      const phase = claims.find((c) => c.name === pod.claim)?.phase
      if (phase !== 'Bound') {
        return fail(
          `${pod.claim} Bound`,
          `${pod.claim} ${phase ?? 'missing'}`,
          'the claim is not bound: is there a default StorageClass? (kubectl get storageclass)',
        )
      }
    }
    return pass
  },
})

export const podIndexLabels = check({
  id: 'pod-index-labels',
  title: `each pod carries its ordinal in the ${POD_INDEX_LABEL} label`,
  needs: 'api',
  observe: async (env) => (await podsOf(env, SET)).map(withIndex),
  evaluate(pods: { name: string; index?: string }[]) {
    if (pods.length < REPLICAS) return fail(`${REPLICAS} pods`, `${pods.length} pods`, 'not every replica exists yet')
    const wrong = pods.filter((pod) => pod.index !== ordinalOf(pod.name))
    if (wrong.length === 0) return pass
    return fail(
      wrong.map((pod) => `${pod.name}: ${ordinalOf(pod.name)}`).join(', '),
      wrong.map((pod) => `${pod.name}: ${pod.index ?? 'no label'}`).join(', '),
      'the StatefulSet controller sets this label itself (Kubernetes 1.28+); an older cluster, or a pod not owned by the set, lacks it',
    )
  },
})

export interface ReplacementObservation {
  before: { uid: string; claimUid: string }
  after?: { uid: string; ready: boolean; claim?: string; claimUid?: string }
}

/** Deletes pod -1 and watches it come back; `before` is what the pod and its claim were. */
function replacementCheck() {
  const victim = `${SET}-1`
  let before: ReplacementObservation['before'] = { uid: '', claimUid: '' }
  return check({
    id: 'replacement',
    title: 'a deleted pod comes back with the same name and the same claim',
    needs: 'api',
    timeoutMs: 120_000,
    async act(env) {
      const pod = await env.kube.core.readNamespacedPod({ name: victim, namespace: env.namespace })
      const claim = await env.kube.core.readNamespacedPersistentVolumeClaim({
        name: claimOf(victim),
        namespace: env.namespace,
      })
      before = { uid: pod.metadata!.uid!, claimUid: claim.metadata!.uid! }
      await env.kube.core.deleteNamespacedPod({ name: victim, namespace: env.namespace })
    },
    async observe(env): Promise<ReplacementObservation> {
      const pod = (await podsOf(env, SET)).find((p) => p.metadata?.name === victim)
      if (!pod) return { before }
      const claim = pod.spec?.volumes?.find((v) => v.name === CLAIM_TEMPLATE)?.persistentVolumeClaim?.claimName
      const claimUid = claim
        ? (await env.kube.core.readNamespacedPersistentVolumeClaim({ name: claim, namespace: env.namespace })).metadata
            ?.uid
        : undefined
      return { before, after: { uid: pod.metadata!.uid!, ready: isReady(pod), claim, claimUid } }
    },
    evaluate({ before: was, after }: ReplacementObservation) {
      if (!after) {
        return fail(
          `a new ${victim}`,
          `no pod named ${victim}`,
          'the StatefulSet controller recreates a deleted pod under the same name; is the set scaled down?',
        )
      }
      if (after.uid === was.uid) {
        return fail(`a new pod (not uid ${was.uid})`, 'the old pod is still there', 'the deletion has not happened yet')
      }
      if (!after.ready) {
        return fail(
          `${victim} Ready`,
          `${victim} not Ready yet`,
          'the replacement has to start and pass its readiness probe',
        )
      }
      if (after.claim !== claimOf(victim) || after.claimUid !== was.claimUid) {
        return fail(
          `claim ${claimOf(victim)} (uid ${was.claimUid})`,
          `claim ${after.claim ?? 'none'} (uid ${after.claimUid ?? 'none'})`,
          'the replacement should reattach the same claim; was the claim deleted, or whenDeleted set to Delete?',
        )
      }
      return pass
    },
  })
}
export const replacement = replacementCheck()

export const randomDeploymentNames = check({
  id: 'deployment-random-names',
  title: "the Deployment's pods have random names and no ordinal",
  needs: 'api',
  observe: async (env) => (await podsOf(env, DEPLOYMENT)).map(withIndex),
  evaluate(pods: { name: string; index?: string }[]) {
    if (pods.length === 0) {
      return fail(
        `pods of the Deployment ${DEPLOYMENT}`,
        'none',
        `is 20-deployment.yaml applied? ${kubectl(`get deployment ${DEPLOYMENT}`)}`,
      )
    }
    // <deployment>-<replicaset hash>-<5 random characters>
    const pattern = new RegExp(`^${DEPLOYMENT}-[a-z0-9]{5,10}-[a-z0-9]{5}$`)
    const odd = pods.filter((pod) => !pattern.test(pod.name) || pod.index !== undefined)
    if (odd.length === 0) return pass
    return fail(
      `names like ${DEPLOYMENT}-7d9c8b6f5-x2k4q, no ${POD_INDEX_LABEL} label`,
      list(odd.map((p) => p.name + (p.index ? ` (index ${p.index})` : ''))),
      `is ${DEPLOYMENT} a Deployment? Only StatefulSets give ordinals`,
    )
  },
})

/** A pod's answer to GET /v1/models on port 8000, through the API server's pod proxy. */
async function modelsAnswer(env: CheckEnv, name: string) {
  return { name, ...(await proxyAnswer(podProxyGet(env.kube, env.namespace, `${name}:8000`, '/v1/models'))) }
}

export const replicasServe = check({
  id: 'replicas-serve',
  title: 'every replica answers on its HTTP port',
  needs: 'pods',
  observe: (env) => Promise.all(expectedNames.map((name) => modelsAnswer(env, name))),
  evaluate(answers: { name: string; status: number; body: string }[]) {
    const silent = answers.filter((a) => a.status !== 200 || !a.body.includes('"object"'))
    if (silent.length === 0) return pass
    return fail(
      'GET /v1/models answered by every pod on port 8000',
      list(silent.map((a) => `${a.name}: ${a.status || 'no answer'}`)),
      `is the container listening on 8000 (--port), and did the image load? ${kubectl('logs <pod>')}`,
    )
  },
})

export const checks: Check[] = [
  podNames,
  createdInOrder,
  ownClaims,
  podIndexLabels,
  replacement,
  randomDeploymentNames,
  replicasServe,
]

if (isMain(import.meta.url)) await runStandalone(import.meta.url, checks)
