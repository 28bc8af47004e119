// Global setup of the projects whose tests ask for a cluster's context: one kwok cluster per
// project for the whole run, shared by its suites (the integration project's is TEST_CLUSTER,
// the mutation suite's TEST_CLUSTER-mutations). A cluster that was already running is reused
// and left running; one this run created is deleted at the end.
import type { TestProject } from 'vitest/node'
import { createCluster } from '../../scripts/lib/cluster/create.ts'
import { kwok } from '../../scripts/lib/cluster/kwok/provider.ts'
import { loadTopology } from '../../scripts/lib/cluster/topology.ts'
import { connect, serverVersion } from '../../scripts/lib/kube.ts'
import { formatEvent } from '../../scripts/lib/output.ts'
import { settings } from '../../scripts/lib/settings.ts'

/** Another name lets two runs on one machine (a developer's and CI's) keep apart. */
export const TEST_CLUSTER = settings.testCluster

declare module 'vitest' {
  export interface ProvidedContext {
    kubeContext: string
  }
}

export default async function setup(project: TestProject) {
  const emit = (event: Parameters<typeof formatEvent>[0]) => console.log(formatEvent(event))
  const cluster = project.name === 'integration' ? TEST_CLUSTER : `${TEST_CLUSTER}-${project.name}`
  const reused = await kwok.exists(cluster)
  if (!reused) await createCluster(kwok, cluster, await loadTopology('lab'), emit)
  const context = kwok.contextFor(cluster)
  console.log(
    `${project.name}: kwok cluster '${cluster}' ${reused ? 'reused' : 'created'}, context ${context}, API server ${await serverVersion(connect(context))}`,
  )
  project.provide('kubeContext', context)
  return async () => {
    if (!reused) await kwok.delete(cluster, emit)
  }
}
