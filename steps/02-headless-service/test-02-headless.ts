#!/usr/bin/env -S npx tsx
// Step 02 verification: a headless Service gives every pod of the StatefulSet a DNS name.
// Runs alone (`npx tsx steps/02-headless-service/test-02-headless.ts [--context NAME] [--json]`)
// and is what `npm run step 02` runs after applying the step.
import { DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node'
import { check, fail, pass, type Check, type CheckEnv } from '../../scripts/lib/checks/check.ts'
import { isReady, kubectl, list, nameOf, orNull, podsOf } from '../../scripts/lib/checks/kit.ts'
import { isMain, runStandalone } from '../../scripts/lib/checks/standalone.ts'
import { execInPod } from '../../scripts/lib/kube.ts'

const SERVICE = 'llama-3-70b'
const SET = 'llama-3-70b'
const REPLICAS = 3
const CONTAINER = 'model-server'
const PORT = 8000
const expectedNames = Array.from({ length: REPLICAS }, (_, i) => `${SET}-${i}`)
/** The DNS name a pod of the set gets from the headless Service. */
const fqdn = (pod: string, namespace: string) => `${pod}.${SERVICE}.${namespace}.svc.cluster.local`
const ipsOf = (pod: V1Pod) => (pod.status?.podIPs ?? []).map((entry) => entry.ip).sort()

export const headless = check({
  id: 'headless',
  title: `the Service ${SERVICE} has no cluster IP`,
  needs: 'api',
  async observe(env): Promise<{ clusterIP?: string } | null> {
    const service = await orNull(env.kube.core.readNamespacedService({ name: SERVICE, namespace: env.namespace }))
    return service && { clusterIP: service.spec?.clusterIP }
  },
  evaluate(service: { clusterIP?: string } | null) {
    if (service === null) {
      return fail(
        `a Service named ${SERVICE}`,
        'no such Service',
        `is 10-service.yaml applied? ${kubectl(`get service ${SERVICE}`)}`,
      )
    }
    if (service.clusterIP === 'None') return pass
    return fail(
      'clusterIP: None',
      `clusterIP: ${service.clusterIP ?? 'unset'}`,
      'a Service with a cluster IP load-balances behind one virtual address and gives pods no names of their own; ' +
        `the cluster IP cannot be removed later: ${kubectl(`delete service ${SERVICE}`)}, then apply clusterIP: None`,
    )
  },
})

export interface ServiceNameObservation {
  serviceName?: string
  /** The headless Services of the namespace. */
  headlessServices: string[]
  /** What the StatefulSet controller wrote into each pod: DNS names are hostname.subdomain. */
  pods: { name: string; hostname?: string; subdomain?: string }[]
}

export const serviceName = check({
  id: 'service-name',
  title: "the StatefulSet's serviceName names the headless Service",
  needs: 'api',
  async observe(env): Promise<ServiceNameObservation> {
    const set = await env.kube.apps.readNamespacedStatefulSet({ name: SET, namespace: env.namespace })
    const services = await env.kube.core.listNamespacedService({ namespace: env.namespace })
    return {
      serviceName: set.spec?.serviceName,
      headlessServices: services.items.filter((s) => s.spec?.clusterIP === 'None').map((s) => s.metadata!.name!),
      pods: (await podsOf(env, SET)).map((pod) => ({
        name: nameOf(pod),
        hostname: pod.spec?.hostname,
        subdomain: pod.spec?.subdomain,
      })),
    }
  },
  evaluate({ serviceName: name, headlessServices, pods }: ServiceNameObservation) {
    const recreate = `serviceName cannot be changed on an existing StatefulSet: ${kubectl(`delete statefulset ${SET}`)}, then apply the step again`
    if (!name)
      return fail(
        `serviceName: ${SERVICE}`,
        'no serviceName',
        `without it the pods get no DNS names at all; ${recreate}`,
      )
    if (name !== SERVICE) {
      return fail(
        `serviceName: ${SERVICE}`,
        `serviceName: ${name}`,
        `the pods' names would live under a Service called ${name}, and DNS silently has none for them; ${recreate}`,
      )
    }
    if (!headlessServices.includes(name)) {
      return fail(
        `a headless Service named ${name}`,
        `headless Services: ${list(headlessServices)}`,
        'serviceName must name a Service with clusterIP: None in the same namespace; is 10-service.yaml applied?',
      )
    }
    if (pods.length < REPLICAS) {
      return fail(
        `${REPLICAS} pods`,
        `${pods.length} pods`,
        `not every replica exists yet: ${kubectl(`describe statefulset ${SET}`)}`,
      )
    }
    const unnamed = pods.filter((pod) => pod.hostname !== pod.name || pod.subdomain !== name)
    if (unnamed.length === 0) return pass
    return fail(
      `each pod with hostname = its name, subdomain = ${name}`,
      list(unnamed.map((pod) => `${pod.name}: ${pod.hostname ?? 'no hostname'}.${pod.subdomain ?? 'no subdomain'}`)),
      'the StatefulSet controller sets both when it creates a pod; pods created before a change keep the old values: ' +
        'delete them and they come back right',
    )
  },
})

export interface EndpointsObservation {
  publishNotReadyAddresses: boolean
  pods: { name: string; ips: string[]; ready: boolean }[]
  /**
   * The endpoints of the Service's EndpointSlices. DNS serves those marked `ready`, and gives
   * one its own name from `hostname`, which is set only when the pod's subdomain is this Service.
   */
  endpoints: { pod?: string; hostname?: string; addresses: string[]; ready?: boolean }[]
}

export const endpointSlices = check({
  id: 'endpoint-slices',
  title: 'its EndpointSlices list every pod by name, ready or not',
  needs: 'api',
  async observe(env): Promise<EndpointsObservation> {
    const service = await env.kube.core.readNamespacedService({ name: SERVICE, namespace: env.namespace })
    const discovery = env.kube.config.makeApiClient(DiscoveryV1Api)
    const labelSelector = `kubernetes.io/service-name=${SERVICE}`
    const slices = await discovery.listNamespacedEndpointSlice({ namespace: env.namespace, labelSelector })
    return {
      publishNotReadyAddresses: service.spec?.publishNotReadyAddresses ?? false,
      pods: (await podsOf(env, SET)).map((pod) => ({ name: nameOf(pod), ips: ipsOf(pod), ready: isReady(pod) })),
      endpoints: slices.items.flatMap((slice) =>
        (slice.endpoints ?? []).map((endpoint) => ({
          pod: endpoint.targetRef?.name,
          hostname: endpoint.hostname,
          addresses: endpoint.addresses,
          ready: endpoint.conditions?.ready,
        })),
      ),
    }
  },
  evaluate({ publishNotReadyAddresses, pods, endpoints }: EndpointsObservation) {
    if (pods.length < REPLICAS) {
      return fail(
        `${REPLICAS} pods`,
        `${pods.length} pods`,
        `not every replica exists yet: ${kubectl(`describe statefulset ${SET}`)}`,
      )
    }
    if (!publishNotReadyAddresses) {
      return fail(
        'publishNotReadyAddresses: true',
        'publishNotReadyAddresses: false',
        'publishNotReadyAddresses is not true, so DNS only publishes pods that are Ready; ' +
          'the ranks of a group (step 03) must find each other before any of them is ready. ' +
          'Set publishNotReadyAddresses: true on the Service',
      )
    }
    for (const pod of pods) {
      if (pod.ips.length === 0) {
        return fail(
          `${pod.name} with an IP`,
          `${pod.name} has no IP yet`,
          `the pod is not running yet: ${kubectl(`describe pod ${pod.name}`)}`,
        )
      }
      const endpoint = endpoints.find((e) => e.pod === pod.name)
      if (!endpoint) {
        return fail(
          `an endpoint for ${pod.name}`,
          `endpoints for: ${list(endpoints.map((e) => e.pod ?? e.addresses.join('/')))}`,
          `the Service's selector must match the pods' labels (app.kubernetes.io/name: ${SET}); ` +
            kubectl(`get endpointslices -l kubernetes.io/service-name=${SERVICE}`),
        )
      }
      if (!pod.ips.every((ip) => endpoint.addresses.includes(ip))) {
        return fail(
          `${pod.name} at ${pod.ips.join(', ')}`,
          `${pod.name} at ${endpoint.addresses.join(', ')}`,
          'the slice is out of date: the EndpointSlice controller catches up within seconds; if it does not, see kube-controller-manager',
        )
      }
      if (endpoint.hostname !== pod.name) {
        return fail(
          `${pod.name}'s endpoint with hostname ${pod.name}`,
          `${pod.name}'s endpoint with ${endpoint.hostname ? `hostname ${endpoint.hostname}` : 'no hostname'}`,
          `an endpoint gets the pod's hostname, and so a DNS name, only when the pod's subdomain is this Service: ` +
            `the StatefulSet's serviceName must be ${SERVICE}`,
        )
      }
      if (endpoint.ready === false) {
        return fail(
          `${pod.name}'s endpoint marked ready`,
          `${pod.name}'s endpoint not ready (pod ${pod.ready ? 'Ready' : 'not Ready'})`,
          'DNS skips endpoints that are not ready; publishNotReadyAddresses: true marks them ready whatever the pod says',
        )
      }
    }
    return pass
  },
})

export interface LookupObservation {
  pod: string
  name: string
  /** The pod's IPs, from the API. */
  ips: string[]
  /** What the name resolved to inside pod -0, or the resolver's error code (ENOTFOUND). */
  addresses?: string[]
  error?: string
}

/** Runs a node one-liner in pod -0 (the image has node, no nslookup or dig) and parses the JSON it prints. */
async function nodeInPod<T>(env: CheckEnv, script: string, args: string[]): Promise<T> {
  const result = await execInPod(env.kube, env.namespace, `${SET}-0`, CONTAINER, ['node', '-e', script, ...args])
  if (result.exitCode !== 0)
    throw new Error(`node in ${SET}-0 exited with ${result.exitCode}: ${result.stderr.trim().slice(0, 300)}`)
  return JSON.parse(result.stdout) as T
}

// Each name resolved as a program would (getaddrinfo): its addresses, or the error code.
const LOOKUP = `const dns = require('node:dns').promises;
Promise.all(process.argv.slice(1).map((name) => dns.lookup(name, { all: true }).then(
  (found) => ({ name, addresses: found.map((a) => a.address) }),
  (error) => ({ name, error: error.code || String(error) }))))
  .then((answers) => console.log(JSON.stringify(answers)))`

export const podNamesResolve = check({
  id: 'pod-names-resolve',
  title: `each pod's name ${SET}-N.${SERVICE}.lab-02.svc.cluster.local resolves to its own IP`,
  needs: 'pods',
  async observe(env): Promise<LookupObservation[]> {
    const pods = new Map((await podsOf(env, SET)).map((pod) => [nameOf(pod), ipsOf(pod)]))
    const names = expectedNames.map((pod) => fqdn(pod, env.namespace))
    const answers = await nodeInPod<{ name: string; addresses?: string[]; error?: string }[]>(env, LOOKUP, names)
    return expectedNames.map((pod, i) => ({
      pod,
      ips: pods.get(pod) ?? [],
      ...answers.find((a) => a.name === names[i]),
      name: names[i]!,
    }))
  },
  evaluate(lookups: LookupObservation[]) {
    for (const lookup of lookups) {
      if (lookup.ips.length === 0) {
        return fail(
          `${lookup.pod} running with an IP`,
          `${lookup.pod} has no IP`,
          kubectl(`describe pod ${lookup.pod}`),
        )
      }
      if (lookup.error) {
        return fail(
          `${lookup.name} → ${lookup.ips.join(', ')}`,
          `${lookup.name}: ${lookup.error}`,
          `no such name: the StatefulSet's serviceName must be ${SERVICE}, ` +
            'the Service must be headless and select the pod (see the api checks above)',
        )
      }
      const got = [...(lookup.addresses ?? [])].sort()
      if (got.join() !== lookup.ips.join()) {
        return fail(
          `${lookup.name} → ${lookup.ips.join(', ')}`,
          `${lookup.name} → ${got.join(', ') || 'nothing'}`,
          'the name points elsewhere: a recently replaced pod is still cached (CoreDNS caches for up to 30 s), ' +
            'or the name belongs to another Service',
        )
      }
    }
    return pass
  },
})

export interface SrvObservation {
  /** The DNS names of the pods, which the SRV targets must be. */
  expected: string[]
  records?: { name: string; port: number }[]
  error?: string
}

const SRV = `require('node:dns').promises.resolveSrv(process.argv[1]).then(
  (records) => console.log(JSON.stringify({ records })),
  (error) => console.log(JSON.stringify({ error: error.code || String(error) })))`

export const srvRecords = check({
  id: 'srv-records',
  title: `the SRV records _http._tcp.${SERVICE}.lab-02.svc.cluster.local list every pod`,
  needs: 'pods',
  async observe(env): Promise<SrvObservation> {
    const name = `_http._tcp.${SERVICE}.${env.namespace}.svc.cluster.local`
    const answer = await nodeInPod<{ records?: { name: string; port: number }[]; error?: string }>(env, SRV, [name])
    const records = answer.records?.map((r) => ({ name: r.name, port: r.port }))
    const expected = expectedNames.map((pod) => fqdn(pod, env.namespace))
    return { expected, ...(records ? { records } : {}), ...(answer.error ? { error: answer.error } : {}) }
  },
  evaluate({ expected, records, error }: SrvObservation) {
    if (!records) {
      return fail(
        `one SRV record per pod, port ${PORT}`,
        `no SRV records (${error ?? 'empty answer'})`,
        `SRV records exist only for named ports: the Service's port needs name: http and protocol: TCP`,
      )
    }
    const targets = records.map((r) => r.name.replace(/\.$/, '')).sort()
    const missing = expected.filter((name) => !targets.includes(name))
    if (missing.length > 0) {
      return fail(
        list(expected),
        list(targets),
        targets.length > 0 && targets.every((t) => !expected.includes(t))
          ? `the targets are not the pods' names: pods without hostname and subdomain get generated names; serviceName must be ${SERVICE}`
          : 'a pod is missing: a pod that is not ready is left out unless publishNotReadyAddresses is true',
      )
    }
    const wrongPort = records.filter((r) => r.port !== PORT)
    if (wrongPort.length > 0) {
      return fail(
        `port ${PORT}`,
        list(wrongPort.map((r) => `${r.name}:${r.port}`)),
        `the Service's http port must be ${PORT}, the port the server listens on`,
      )
    }
    return pass
  },
})

export const checks: Check[] = [headless, serviceName, endpointSlices, podNamesResolve, srvRecords]

if (isMain(import.meta.url)) await runStandalone(import.meta.url, checks)
