// What the step scripts' checks share: finding a workload's pods, reading an object that may
// not exist, and writing hints a learner can paste.
import { AuthorizationV1Api, PolicyV1Api, type V1Pod, type V1ResourceAttributes } from '@kubernetes/client-node'
import { isNotFound } from '../kube.ts'
import { fail, NAMESPACE, pass, type CheckEnv, type Verdict } from './check.ts'

/** The pods of a workload (label `app.kubernetes.io/name`), leaving out those being deleted. */
export async function podsOf(env: CheckEnv, workload: string): Promise<V1Pod[]> {
  const pods = await env.kube.core.listNamespacedPod({
    namespace: env.namespace,
    labelSelector: `app.kubernetes.io/name=${workload}`,
  })
  return pods.items.filter((pod) => !pod.metadata?.deletionTimestamp)
}

/** A pod's name, which every pod the API returns has. */
export const nameOf = (pod: V1Pod): string => pod.metadata!.name!

const readyCondition = (pod: V1Pod) => pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')

export const isReady = (pod: V1Pod): boolean => readyCondition(pod) !== undefined

/** When the pod last became Ready, or undefined while it is not Ready. */
export const readySince = (pod: V1Pod): Date | undefined => readyCondition(pod)?.lastTransitionTime

/** What the API answered, or null when the object does not exist (404). */
export async function orNull<T>(request: Promise<T>): Promise<T | null> {
  try {
    return await request
  } catch (error) {
    if (isNotFound(error)) return null
    throw error
  }
}

/** An error the API server itself answered to a proxied request: a Kubernetes Status. */
export interface ApiServerAnswer {
  /** `NotFound` when there is no such pod; other reasons when it could not reach it. */
  reason: string
  message: string
}

/**
 * The API server's own answer, when it answered a proxied request instead of the pod: its errors
 * are a Kubernetes Status (`{"kind":"Status","reason":"NotFound",…}`), where a model server
 * answers in OpenAI's error shape. Undefined when the answer came from the program in the pod.
 */
export function apiServerAnswer(answer: { status: number; body: string }): ApiServerAnswer | undefined {
  if (answer.status < 400) return undefined
  let status: { kind?: unknown; reason?: unknown; message?: unknown }
  try {
    status = JSON.parse(answer.body) as typeof status
  } catch {
    return undefined
  }
  if (status?.kind !== 'Status') return undefined
  return {
    reason: typeof status.reason === 'string' ? status.reason : `HTTP ${answer.status}`,
    message: typeof status.message === 'string' ? status.message : '',
  }
}

/** The hint for a proxied request the API server answered: no such pod, or the pod not reachable. */
export function podNotReachedHint(pod: string, said: ApiServerAnswer): string {
  if (said.reason === 'NotFound')
    return `the API server answered, not ${pod}: ${said.message}; is the step applied? ${kubectl(`get pod ${pod}`)}`
  return `the API server could not reach ${pod}: ${said.message}; ${kubectl(`logs ${pod}`)}`
}

/** Names for a message: comma-separated, or "none". */
export const list = (items: readonly string[]): string => (items.length ? items.join(', ') : 'none')

/** A kubectl command in the step's namespace, for a hint: `kubectl(\`logs ${pod}\`)`. */
export const kubectl = (command: string): string => `kubectl -n ${NAMESPACE} ${command}`

/** A PodDisruptionBudget as the checks judge it: its rule, and what its status says it allows now. */
export interface BudgetObservation {
  minAvailable?: number | string
  maxUnavailable?: number | string
  /** The pods the budget selects, how many of them are Ready, and how many may be evicted now. */
  expectedPods: number
  currentHealthy: number
  disruptionsAllowed: number
}

/** The PodDisruptionBudget `name` of the step's namespace, or null when there is none. */
export async function observeBudget(env: CheckEnv, name: string): Promise<BudgetObservation | null> {
  const policy = env.kube.config.makeApiClient(PolicyV1Api)
  const pdb = await orNull(policy.readNamespacedPodDisruptionBudget({ name, namespace: env.namespace }))
  if (!pdb) return null
  const { minAvailable, maxUnavailable } = pdb.spec ?? {}
  return {
    ...(minAvailable !== undefined ? { minAvailable } : {}),
    ...(maxUnavailable !== undefined ? { maxUnavailable } : {}),
    expectedPods: pdb.status?.expectedPods ?? 0,
    currentHealthy: pdb.status?.currentHealthy ?? 0,
    disruptionsAllowed: pdb.status?.disruptionsAllowed ?? 0,
  }
}

/** Why a budget cannot be judged (missing, or selecting no pods), for the workload `name` written in `file`. */
export function budgetMissing(pdb: BudgetObservation | null, name: string, file: string, replicas: number): Verdict {
  if (pdb === null) {
    return fail(
      `a PodDisruptionBudget named ${name}`,
      'no such PodDisruptionBudget',
      `is ${file} applied? ${kubectl(`get pdb ${name}`)}`,
    )
  }
  return fail(
    `the budget to cover the ${replicas} ${name} pods`,
    'it selects no pods',
    `its selector must match the ${name} pods' labels (app.kubernetes.io/name: ${name})`,
  )
}

/** A budget's rule as written: `minAvailable: 2`, `maxUnavailable: 1`, or none. */
export const budgetRule = (pdb: BudgetObservation): string =>
  pdb.minAvailable !== undefined
    ? `minAvailable: ${pdb.minAvailable}`
    : pdb.maxUnavailable !== undefined
      ? `maxUnavailable: ${pdb.maxUnavailable}`
      : 'no minAvailable or maxUnavailable'

/**
 * What the API server's authorizer answers for the ServiceAccount `account` of the step's
 * namespace. A SubjectAccessReview asks about any user; a SelfSubjectAccessReview would ask about
 * whoever runs the check, an administrator who may do everything.
 */
export async function accountMay(
  env: CheckEnv,
  account: string,
  attributes: V1ResourceAttributes,
): Promise<{ allowed: boolean; reason?: string }> {
  const review = await env.kube.config.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${env.namespace}:${account}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${env.namespace}`, 'system:authenticated'],
        resourceAttributes: attributes,
      },
    },
  })
  const reason = review.status?.reason
  return { allowed: review.status?.allowed ?? false, ...(reason ? { reason } : {}) }
}

/** An access question with the authorizer's answer beside it. */
export type Answered<A> = A & { allowed: boolean; reason?: string }

/** Puts every question to the authorizer at once; `ask` says which account and what it would do. */
export async function askAuthorizer<A extends object>(
  env: CheckEnv,
  questions: readonly A[],
  ask: (question: A) => { account: string; attributes: V1ResourceAttributes },
): Promise<Answered<A>[]> {
  return Promise.all(
    questions.map(async (question) => {
      const { account, attributes } = ask(question)
      return { ...question, ...(await accountMay(env, account, attributes)) }
    }),
  )
}

/**
 * Least privilege judged from recorded answers: the needed accesses that were refused, and the
 * forbidden ones that were allowed. `describe` names a question, and so matches it to its answer.
 */
export function judgeAccess<A>(
  answers: readonly Answered<A>[],
  needed: readonly A[],
  forbidden: readonly A[],
  describe: (access: A) => string,
): { refused: A[]; granted: Answered<A>[] } {
  const answerTo = (access: A) => {
    const answer = answers.find((a) => describe(a) === describe(access))
    if (!answer) throw new Error(`no answer recorded for: ${describe(access)}`)
    return answer
  }
  return {
    refused: needed.filter((access) => !answerTo(access).allowed),
    granted: forbidden.map(answerTo).filter((answer) => answer.allowed),
  }
}

/** One thing a ServiceAccount would do: in the step's namespace unless `namespace` names another or is ALL_NAMESPACES. */
export interface Access {
  verb: string
  group: string
  resource: string
  subresource?: string
  name?: string
  namespace?: string
}

export const ALL_NAMESPACES = '*'

/** `get secrets metrics-adapter-tls in lab-07`, `create pods/binding (cluster-wide)`: how a hint names an access. */
export const describeAccess = ({ verb, resource, subresource, group, name, namespace }: Access): string =>
  `${verb} ${resource}${subresource ? `/${subresource}` : ''}${group ? `.${group}` : ''}${name ? ` ${name}` : ''}` +
  `${namespace === ALL_NAMESPACES ? ' (cluster-wide)' : namespace ? ` in ${namespace}` : ''}`

/** An access as a SubjectAccessReview's resource attributes, in the step's namespace by default. */
export const accessAttributes = (env: CheckEnv, access: Access) => ({
  verb: access.verb,
  group: access.group,
  resource: access.resource,
  ...(access.namespace === ALL_NAMESPACES ? {} : { namespace: access.namespace ?? env.namespace }),
  ...(access.subresource ? { subresource: access.subresource } : {}),
  ...(access.name ? { name: access.name } : {}),
})

/** The authorizer's answers for what the step's ServiceAccount `account` would do. */
export const askAccess = (env: CheckEnv, account: string, accesses: readonly Access[]): Promise<Answered<Access>[]> =>
  askAuthorizer(env, accesses, (access) => ({ account, attributes: accessAttributes(env, access) }))

/** Granted accesses as a hint lists them, each with the authorizer's reason, which names the rule. */
export const listGranted = <A>(granted: readonly Answered<A>[], describe: (access: A) => string): string[] =>
  granted.map((a) => describe(a) + (a.reason ? ` (${a.reason})` : ''))

/**
 * The verdict on one account's least privilege: every access in `mayDo` allowed, every one in
 * `mayNotDo` refused. The hints say where the account gets what it needs, and why more is wrong.
 */
export function judgeLeastPrivilege(
  answers: readonly Answered<Access>[],
  mayDo: readonly Access[],
  mayNotDo: readonly Access[],
  hints: { refused: string; granted: string },
): Verdict {
  const { refused, granted } = judgeAccess(answers, mayDo, mayNotDo, describeAccess)
  if (refused.length > 0)
    return fail(
      `allowed: ${list(mayDo.map(describeAccess))}`,
      `refused: ${list(refused.map(describeAccess))}`,
      hints.refused,
    )
  if (granted.length > 0)
    return fail(
      `refused: ${list(mayNotDo.map(describeAccess))}`,
      `allowed: ${list(listGranted(granted, describeAccess))}`,
      hints.granted,
    )
  return pass
}
