// Global setup of the integration project (the tests that ask for the cluster's context): one
// kwok cluster for the whole run, shared by every suite. A cluster that was already running is
// reused and left running; one this run created is deleted at the end.
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
  const reused = await kwok.exists(TEST_CLUSTER)
  if (!reused) await createCluster(kwok, TEST_CLUSTER, await loadTopology('lab'), emit)
  const context = kwok.contextFor(TEST_CLUSTER)
  console.log(
    `integration: kwok cluster '${TEST_CLUSTER}' ${reused ? 'reused' : 'created'}, context ${context}, API server ${await serverVersion(connect(context))}`,
  )
  project.provide('kubeContext', context)
  return async () => {
    if (!reused) await kwok.delete(TEST_CLUSTER, emit)
  }
}
