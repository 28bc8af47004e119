import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { controllerConfiguration, labWebhookConfigurations, startedControllers } from '../support/lws.ts'

// The shape of sigs.k8s.io/lws config/webhook at v0.8.0, shortened.
const manifests = `---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mutating-webhook-configuration
webhooks:
- admissionReviewVersions: [v1]
  clientConfig:
    service: { name: webhook-service, namespace: system, path: /mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset }
  failurePolicy: Fail
  name: mleaderworkerset.kb.io
  rules: [{ apiGroups: [leaderworkerset.x-k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [leaderworkersets] }]
  sideEffects: None
- admissionReviewVersions: [v1]
  clientConfig:
    service: { name: webhook-service, namespace: system, path: /mutate--v1-pod }
  failurePolicy: Fail
  name: mpod.kb.io
  rules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods] }]
  sideEffects: None
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: validating-webhook-configuration
webhooks:
- admissionReviewVersions: [v1]
  clientConfig:
    service: { name: webhook-service, namespace: system, path: /validate-leaderworkerset-x-k8s-io-v1-leaderworkerset }
  failurePolicy: Fail
  name: vleaderworkerset.kb.io
  rules: [{ apiGroups: [leaderworkerset.x-k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [leaderworkersets] }]
  sideEffects: None
- admissionReviewVersions: [v1]
  clientConfig:
    service: { name: webhook-service, namespace: system, path: /validate--v1-pod }
  failurePolicy: Fail
  name: vpod.kb.io
  rules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods] }]
  sideEffects: None
`

const podPatch = (name: string, path: string) => `- op: replace
  path: /webhooks/1
  value:
    admissionReviewVersions: [v1]
    clientConfig:
      service: { name: webhook-service, namespace: system, path: ${path} }
    failurePolicy: Fail
    name: ${name}
    objectSelector:
      matchExpressions:
      - key: leaderworkerset.sigs.k8s.io/name
        operator: Exists
    rules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods] }]
    sideEffects: None
`

const patches = {
  mutating: podPatch('mpod.kb.io', '/mutate--v1-pod'),
  validating: podPatch('vpod.kb.io', '/validate--v1-pod'),
}
const endpoint = {
  baseUrl: 'https://127.0.0.1:40443',
  caPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
}

interface Webhook {
  name: string
  clientConfig: Record<string, unknown>
  objectSelector?: unknown
  failurePolicy: string
}
const webhooksOf = (object: unknown) => (object as { webhooks: Webhook[] }).webhooks

describe('labWebhookConfigurations', () => {
  const [mutating, validating] = labWebhookConfigurations(manifests, patches, endpoint)

  it('points every webhook at the endpoint with its upstream path, trusted through the CA', () => {
    const caBundle = Buffer.from(endpoint.caPem).toString('base64')
    expect(webhooksOf(mutating).map((w) => w.clientConfig)).toEqual([
      { url: 'https://127.0.0.1:40443/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset', caBundle },
      { url: 'https://127.0.0.1:40443/mutate--v1-pod', caBundle },
    ])
    expect(webhooksOf(validating).map((w) => w.clientConfig.url)).toEqual([
      'https://127.0.0.1:40443/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset',
      'https://127.0.0.1:40443/validate--v1-pod',
    ])
    expect(JSON.stringify([mutating, validating])).not.toContain('webhook-service')
  })

  it('keeps the patches’ objectSelector: the pod webhooks see only pods of a LeaderWorkerSet', () => {
    const selector = { matchExpressions: [{ key: 'leaderworkerset.sigs.k8s.io/name', operator: 'Exists' }] }
    for (const configuration of [mutating, validating]) {
      const [lws, pod] = webhooksOf(configuration)
      expect(pod!.objectSelector).toEqual(selector)
      expect(lws!.objectSelector).toBeUndefined()
      expect(pod!.failurePolicy).toBe('Fail')
    }
  })

  it('gives the configurations the project’s names and label, keeping the webhooks’ own names', () => {
    expect(mutating!.metadata).toEqual({
      name: 'multi-node-serving-lab-lws-mutating-webhook-configuration',
      labels: { 'app.kubernetes.io/part-of': 'multi-node-serving-lab' },
    })
    expect(validating!.metadata!.name).toBe('multi-node-serving-lab-lws-validating-webhook-configuration')
    expect(webhooksOf(mutating).map((w) => w.name)).toEqual(['mleaderworkerset.kb.io', 'mpod.kb.io'])
    expect(webhooksOf(validating).map((w) => w.name)).toEqual(['vleaderworkerset.kb.io', 'vpod.kb.io'])
  })

  it('refuses a webhook without a service path', () => {
    const noPath = manifests.replace('path: /mutate--v1-pod }', '}')
    expect(() => labWebhookConfigurations(noPath, { ...patches, mutating: '[]' }, endpoint)).toThrow(
      /mpod.kb.io has no service path/,
    )
  })
})

describe('controllerConfiguration', () => {
  it('serves webhooks on loopback with our certificates and turns off what would need the cluster’s network or a lease', () => {
    expect(parse(controllerConfiguration(40443, '/tmp/certs'))).toEqual({
      apiVersion: 'config.lws.x-k8s.io/v1alpha1',
      kind: 'Configuration',
      leaderElection: { leaderElect: false },
      internalCertManagement: { enable: false },
      webhook: { host: '127.0.0.1', port: 40443, certDir: '/tmp/certs' },
      metrics: { bindAddress: '0' },
      health: { healthProbeBindAddress: '0' },
    })
  })
})

describe('startedControllers', () => {
  it('finds the controllers whose workers started in controller-runtime’s JSON log', () => {
    const log = [
      '{"level":"info","ts":"2026-01-01T00:00:00Z","logger":"setup","msg":"starting manager"}',
      'not json',
      '{"level":"info","ts":"2026-01-01T00:00:01Z","msg":"Starting workers","controller":"leaderworkerset","worker count":1}',
      '{"level":"info","ts":"2026-01-01T00:00:01Z","msg":"Starting Controller","controller":"pod"}',
    ].join('\n')
    expect(startedControllers(log)).toEqual(['leaderworkerset'])
  })
})
