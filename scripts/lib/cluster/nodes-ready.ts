import type { V1Node } from '@kubernetes/client-node'
import { EnvironmentError } from '../errors.ts'
import { connect } from '../kube.ts'
import type { EmitEvent } from '../output.ts'
import { pollUntil } from '../poll.ts'

/** A node whose Ready condition is True: its kubelet reports, and it takes pods. */
export const isNodeReady = (node: V1Node): boolean =>
  node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true

/** Waits until `expected` nodes are Ready; else fails with `whereToLook`, which says how to find out why. */
export async function waitForNodesReady(
  context: string,
  expected: number,
  emit: EmitEvent,
  whereToLook: string,
  timeoutMs = 120_000,
): Promise<void> {
  const kube = connect(context)
  const { value: ready, held } = await pollUntil(
    async () => {
      const nodes = (await kube.core.listNode()).items
      const ready = nodes.filter(isNodeReady).length
      if (ready < expected) emit({ kind: 'progress', message: `${ready}/${expected} nodes Ready` })
      return ready
    },
    (ready) => ready >= expected,
    { timeoutMs, intervalMs: 2_000 },
  )
  if (!held)
    throw new EnvironmentError(
      `only ${ready} of ${expected} nodes became Ready in ${Math.round(timeoutMs / 1000)} s: ${whereToLook}`,
    )
}
