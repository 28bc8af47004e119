// Every step-02 check judged on observations: the api ones recorded from a kwok cluster
// (fixtures/step-02-observations.kwok.json), the pods ones written to look like what the
// checks see on kind; the failing ones derived from them the way learners' mistakes change
// what the cluster shows. Also: step 02's StatefulSet is step 01's plus serviceName.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import {
  checks,
  endpointSlices,
  headless,
  podNamesResolve,
  serviceName,
  srvRecords,
  type EndpointsObservation,
  type LookupObservation,
  type ServiceNameObservation,
  type SrvObservation,
} from '../../steps/02-headless-service/test-02-headless.ts'
import { failure, recordedFor } from './recorded.ts'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import { stepsDir } from '../../scripts/lib/steps.ts'
import recorded from './fixtures/step-02-observations.kwok.json' with { type: 'json' }
// The same step applied with serviceName: llama beside the Service llama-3-70b.
import mismatch from './fixtures/step-02-servicename-mismatch.kwok.json' with { type: 'json' }

describe('step 02 checks on observations recorded from a cluster', () => {
  it('every api check passes on what a correct step shows', () => {
    for (const item of checks.filter((c) => c.needs === 'api')) {
      expect(item.evaluate(recordedFor(item, recorded)), item.title).toEqual({ pass: true })
    }
  })

  it('titles state outcomes and every check is listed once', () => {
    expect(new Set(checks.map((c) => c.title)).size).toBe(checks.length)
    expect(checks.map((c) => c.needs)).toEqual(['api', 'api', 'api', 'pods', 'pods'])
  })
})

describe('headless Service', () => {
  it('fails when the Service is missing, pointing at its file', () => {
    expect(failure(headless.evaluate(null)).hint).toContain('10-service.yaml')
  })

  it('fails on a cluster IP, and says it cannot be removed in place', () => {
    const verdict = failure(headless.evaluate({ clusterIP: '10.96.12.34' }))
    expect(verdict.seen).toBe('clusterIP: 10.96.12.34')
    expect(verdict.hint).toContain('cannot be removed')
  })
})

describe('serviceName', () => {
  const base = () => recordedFor(serviceName, recorded) as ServiceNameObservation

  it('fails on a serviceName that names another Service: the silent mistake (recorded)', () => {
    const verdict = failure(serviceName.evaluate(recordedFor(serviceName, mismatch)))
    expect(verdict.seen).toBe('serviceName: llama')
    expect(verdict.hint).toContain('silently')
    expect(verdict.hint).toContain('delete statefulset')
  })

  it('fails when serviceName is unset, as in step 01', () => {
    const observation = base()
    delete observation.serviceName
    expect(failure(serviceName.evaluate(observation)).hint).toContain('no DNS names')
  })

  it('fails when the named Service is not headless', () => {
    const verdict = failure(serviceName.evaluate({ ...base(), headlessServices: [] }))
    expect(verdict.hint).toContain('clusterIP: None')
  })

  it('fails when a pod still carries an old subdomain', () => {
    const observation = base()
    observation.pods[2]!.subdomain = 'old'
    const verdict = failure(serviceName.evaluate(observation))
    expect(verdict.seen).toBe('llama-3-70b-2: llama-3-70b-2.old')
    expect(verdict.hint).toContain('delete them')
  })
})

describe('EndpointSlices', () => {
  const base = () => recordedFor(endpointSlices, recorded) as EndpointsObservation

  it('fails without publishNotReadyAddresses even while every pod is ready', () => {
    const verdict = failure(endpointSlices.evaluate({ ...base(), publishNotReadyAddresses: false }))
    expect(verdict.hint).toContain('before any of them is ready')
    expect(verdict.hint).toContain('publishNotReadyAddresses: true')
  })

  // What the EndpointSlice controller writes for a pod that is not Ready when the Service does
  // not publish such pods (seen on the kwok cluster with a Ready condition set to False).
  it('fails on an endpoint marked not ready, naming publishNotReadyAddresses', () => {
    const observation = base()
    observation.pods[1]!.ready = false
    observation.endpoints[1]!.ready = false
    const verdict = failure(endpointSlices.evaluate(observation))
    expect(verdict.seen).toBe("llama-3-70b-1's endpoint not ready (pod not Ready)")
    expect(verdict.hint).toContain('publishNotReadyAddresses')
  })

  it('passes on a pod that is not Ready when its endpoint is published anyway', () => {
    const observation = base()
    observation.pods[1]!.ready = false
    expect(endpointSlices.evaluate(observation)).toEqual({ pass: true })
  })

  it('fails when the selector matches no pod, pointing at the labels', () => {
    const verdict = failure(endpointSlices.evaluate({ ...base(), endpoints: [] }))
    expect(verdict.seen).toBe('endpoints for: none')
    expect(verdict.hint).toContain('selector')
  })

  it('fails when the endpoints carry no hostname, as with a mismatched serviceName (recorded)', () => {
    const verdict = failure(endpointSlices.evaluate(recordedFor(endpointSlices, mismatch)))
    expect(verdict.seen).toBe("llama-3-70b-0's endpoint with no hostname")
    expect(verdict.hint).toContain('serviceName')
  })

  it('fails on an address that is not the pod’s', () => {
    const observation = base()
    observation.endpoints[0]!.addresses = ['10.0.0.99']
    expect(failure(endpointSlices.evaluate(observation)).expected).toContain('llama-3-70b-0 at')
  })
})

const namespace = 'lab-02'
const name = (i: number) => `llama-3-70b-${i}.llama-3-70b.${namespace}.svc.cluster.local`
const lookups = (): LookupObservation[] =>
  [0, 1, 2].map((i) => ({
    pod: `llama-3-70b-${i}`,
    name: name(i),
    ips: [`10.244.${i + 1}.7`],
    addresses: [`10.244.${i + 1}.7`],
  }))

describe('per-pod DNS names', () => {
  it('passes when every name resolves to its pod’s IP', () => {
    expect(podNamesResolve.evaluate(lookups())).toEqual({ pass: true })
  })

  it('fails on a name that does not exist, pointing at serviceName', () => {
    const observation = lookups()
    delete observation[1]!.addresses
    observation[1]!.error = 'ENOTFOUND'
    const verdict = failure(podNamesResolve.evaluate(observation))
    expect(verdict.seen).toBe(`${name(1)}: ENOTFOUND`)
    expect(verdict.hint).toContain('serviceName')
  })

  it('fails on a stale address, mentioning the DNS cache', () => {
    const observation = lookups()
    observation[2]!.addresses = ['10.244.9.9']
    expect(failure(podNamesResolve.evaluate(observation)).hint).toContain('cache')
  })
})

const srv = (): SrvObservation => ({
  expected: [0, 1, 2].map(name),
  records: [2, 0, 1].map((i) => ({ name: name(i), port: 8000 })),
})

describe('SRV records', () => {
  it('passes when the targets are the pods’ names on port 8000, in any order', () => {
    expect(srvRecords.evaluate(srv())).toEqual({ pass: true })
  })

  it('fails without records, pointing at the named port', () => {
    const verdict = failure(srvRecords.evaluate({ expected: srv().expected, error: 'ENODATA' }))
    expect(verdict.seen).toContain('ENODATA')
    expect(verdict.hint).toContain('named ports')
  })

  it('fails on generated target names, pointing at serviceName', () => {
    const observation = srv()
    observation.records = observation.records!.map((r, i) => ({
      ...r,
      name: `3${i}6266.llama-3-70b.${namespace}.svc.cluster.local`,
    }))
    expect(failure(srvRecords.evaluate(observation)).hint).toContain('serviceName')
  })

  it('fails when a pod is left out, pointing at publishNotReadyAddresses', () => {
    const observation = srv()
    observation.records = observation.records!.slice(1)
    expect(failure(srvRecords.evaluate(observation)).hint).toContain('publishNotReadyAddresses')
  })

  it('fails on another port', () => {
    const observation = srv()
    observation.records![0]!.port = 80
    expect(failure(srvRecords.evaluate(observation)).seen).toContain(':80')
  })
})

/** A StatefulSet with what step 02 may change taken out: its namespace and serviceName. */
function comparable(object: KubernetesObject): unknown {
  const copy = structuredClone(object) as KubernetesObject & { spec?: { serviceName?: string } }
  delete copy.metadata?.namespace
  delete copy.spec?.serviceName
  return copy
}

async function statefulSetOf(folder: string): Promise<KubernetesObject> {
  const sets = (await readManifests(join(stepsDir, folder))).filter((o) => o.kind === 'StatefulSet')
  expect(sets, folder).toHaveLength(1)
  return sets[0]!
}

describe("step 02's StatefulSet is step 01's with serviceName added", () => {
  it('differs from step 01 only in namespace and serviceName', async () => {
    const before = await statefulSetOf('01-basic-statefulset')
    const after = await statefulSetOf('02-headless-service')
    expect(comparable(after)).toEqual(comparable(before))
    expect((after as { spec?: { serviceName?: string } }).spec?.serviceName).toBe('llama-3-70b')
    expect(after.metadata?.namespace).toBe('lab-02')
  })

  it('the comparison notices any other change', async () => {
    const before = await statefulSetOf('01-basic-statefulset')
    const changed = structuredClone(before) as KubernetesObject & {
      spec: { template: { spec: { containers: { args: string[] }[] } } }
    }
    changed.spec.template.spec.containers[0]!.args.push('--max-num-seqs', '8')
    expect(comparable(changed)).not.toEqual(comparable(before))
  })
})

describe('the lesson shows what changed', () => {
  it('quotes the one added line exactly as 20-statefulset.yaml has it', async () => {
    const lesson = await readFile(join(repoRoot, 'docs', 'steps', '02-headless-service.md'), 'utf8')
    const quoted = /```yaml\n(.*)\n```/.exec(lesson)?.[1]
    expect(quoted, 'the lesson quotes the added line in a yaml block').toBeDefined()
    const lines = (await readFile(join(stepsDir, '02-headless-service', '20-statefulset.yaml'), 'utf8')).split('\n')
    expect(lines).toContain(quoted)
    expect(quoted!.trim()).toBe('serviceName: llama-3-70b')
  })
})
