// Step 03's manifests against the model server's own configuration loader: each rank's
// environment, built the way the kubelet (and LeaderWorkerSet) would build it, must give the
// server the group the lesson describes; and the mistake the lesson has you make must be refused.
import { join } from 'node:path'
import type { KubernetesObject, V1Container, V1Secret } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { stepsDir } from '../../scripts/lib/steps.ts'
import { ConfigError, loadConfig } from '../../workloads/model-server/config.ts'

type PodSpec = { spec: { containers: V1Container[] } }
const dir = join(stepsDir, '03-multi-node-tp')

/** The Secrets of a folder's manifests, by name: key → value, as the kubelet reads them. */
async function secretsIn(folder: string): Promise<Map<string, Record<string, string>>> {
  const secrets = (await readManifests(folder)).filter((o) => o.kind === 'Secret') as (V1Secret & {
    stringData?: Record<string, string>
  })[]
  return new Map(secrets.map((s) => [s.metadata!.name!, s.stringData ?? {}]))
}

/** The container's environment as the kubelet gives it to pod `name` with ordinal `index`, `$(VAR)` expanded. */
function environment(
  container: V1Container,
  name: string,
  index: number,
  secrets: Map<string, Record<string, string>>,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...extra }
  for (const variable of container.env ?? []) {
    const path = variable.valueFrom?.fieldRef?.fieldPath
    const secretRef = variable.valueFrom?.secretKeyRef
    if (path === 'metadata.name') env[variable.name] = name
    else if (path === "metadata.labels['apps.kubernetes.io/pod-index']") env[variable.name] = String(index)
    else if (path === 'status.podIP') env[variable.name] = `10.244.${index}.7`
    else if (path) throw new Error(`no value for fieldRef ${path} in this test`)
    else if (secretRef) {
      const value = secrets.get(secretRef.name!)?.[secretRef.key]
      if (value === undefined) throw new Error(`no Secret ${secretRef.name} with key ${secretRef.key} in the step`)
      env[variable.name] = value
    } else env[variable.name] = variable.value!.replace(/\$\((\w+)\)/g, (_, ref: string) => env[ref] ?? `$(${ref})`)
  }
  return env
}

describe("the StatefulSet's ranks, as the model server reads them", () => {
  it('give node ranks 0 and 1 of one group: world size 8, TP 4 × PP 2, leader at rank 0’s DNS name', async () => {
    const set = (await readManifests(dir)).find((o) => o.kind === 'StatefulSet') as KubernetesObject & {
      spec: { replicas: number; template: PodSpec }
    }
    const container = set.spec.template.spec.containers[0]!
    for (let index = 0; index < set.spec.replicas; index++) {
      const config = loadConfig(
        container.args!,
        environment(container, `llama-3-70b-${index}`, index, await secretsIn(dir)),
      )
      expect(config).toMatchObject({
        rendezvousHost: `10.244.${index}.7`,
        groupSecret: 'lab-03-group-secret-change-me',
        nodeRank: index,
        nnodes: 2,
        gpusPerNode: 4,
        worldSize: 8,
        tensorParallelSize: 4,
        pipelineParallelSize: 2,
        masterAddr: 'llama-3-70b-0.llama-3-70b.lab-03.svc.cluster.local',
        masterPort: 29500,
        port: 8000,
      })
    }
  })

  it('refuse WORLD_SIZE 2, the pods-not-processes slip, naming the rule', async () => {
    const set = (await readManifests(dir)).find((o) => o.kind === 'StatefulSet') as KubernetesObject & {
      spec: { template: PodSpec }
    }
    const container = set.spec.template.spec.containers[0]!
    const env = { ...environment(container, 'llama-3-70b-1', 1, await secretsIn(dir)), WORLD_SIZE: '2' }
    expect(() => loadConfig(container.args!, env)).toThrow(ConfigError)
    expect(() => loadConfig(container.args!, env)).toThrow(/WORLD_SIZE counts processes/)
  })
})

describe("the LeaderWorkerSet's pods, with the variables LWS injects", () => {
  it('give the same group, the leader at LWS_LEADER_ADDRESS', async () => {
    const lws = (await readManifests(join(dir, 'leaderworkerset'))).find(
      (o) => o.kind === 'LeaderWorkerSet',
    ) as KubernetesObject & {
      metadata: { name: string; namespace: string }
      spec: { leaderWorkerTemplate: { size: number; leaderTemplate: PodSpec; workerTemplate: PodSpec } }
    }
    const { size, leaderTemplate, workerTemplate } = lws.spec.leaderWorkerTemplate
    // What LWS sets (pkg/utils/pod: AddLWSVariables): NAME-GROUP.SUBDOMAIN.NAMESPACE, the size, the worker index.
    const leaderAddress = `${lws.metadata.name}-0.${lws.metadata.name}.${lws.metadata.namespace}`
    const pods = [
      { template: leaderTemplate, name: 'llama-3-70b-0', index: 0 },
      { template: workerTemplate, name: 'llama-3-70b-0-1', index: 1 },
    ]
    for (const { template, name, index } of pods) {
      const container = template.spec.containers[0]!
      const lwsEnv = {
        LWS_LEADER_ADDRESS: leaderAddress,
        LWS_GROUP_SIZE: String(size),
        LWS_WORKER_INDEX: String(index),
      }
      const secrets = await secretsIn(join(dir, 'leaderworkerset'))
      const config = loadConfig(container.args!, environment(container, name, index, secrets, lwsEnv))
      expect(config, name).toMatchObject({
        rendezvousHost: `10.244.${index}.7`,
        groupSecret: 'lab-03-lws-group-secret-change-me',
        nodeRank: index,
        nnodes: 2,
        gpusPerNode: 4,
        worldSize: 8,
        masterAddr: 'llama-3-70b-0.llama-3-70b.lab-03-lws',
        masterPort: 29500,
      })
    }
  })
})
