import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node'
import { GROUP, VERSION } from './api-objects.ts'
import type { User } from './authentication.ts'

export interface Decision {
  allowed: boolean
  reason: string
}

export type Authorize = (user: User, namespace: string, metric: string) => Promise<Decision>

/**
 * Whether `user` may get `metric` in `namespace`, asked of the API server with a
 * SubjectAccessReview (what the `system:auth-delegator` ClusterRole lets the adapter create), as
 * an extension API server delegates authorisation. The HPA controller's ClusterRole
 * (`system:controller:horizontal-pod-autoscaler`) grants get and list on every resource of
 * external.metrics.k8s.io. Answers are reused for `cacheMs`, so the HPA's queries every sync
 * period cost one review each per window, not one each.
 */
export function subjectAccessReviewer(kubeConfig: KubeConfig, cacheMs: number, now = Date.now): Authorize {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api)
  const cache = new Map<string, { decision: Decision; until: number }>()
  return async (user, namespace, metric) => {
    const key = JSON.stringify([user, namespace, metric])
    const cached = cache.get(key)
    if (cached && cached.until > now()) return cached.decision
    const review = await api.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.name,
          groups: user.groups,
          extra: user.extra,
          resourceAttributes: { namespace, verb: 'get', group: GROUP, version: VERSION, resource: metric },
        },
      },
    })
    const decision = { allowed: review.status?.allowed === true, reason: review.status?.reason ?? '' }
    for (const [k, entry] of cache) if (entry.until <= now()) cache.delete(k)
    cache.set(key, { decision, until: now() + cacheMs })
    return decision
  }
}
