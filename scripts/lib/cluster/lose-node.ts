import { PatchStrategy, setHeaderOptions, type V1Node, type V1Taint } from '@kubernetes/client-node'
import { CommandError } from '../errors.ts'
import { exec } from '../exec.ts'
import { clusterRunsContainers, type KubeContext } from '../kube.ts'
import { pollUntil } from '../poll.ts'
import { advertiseGpus } from './gpu-capacity.ts'
import { isNodeReady } from './nodes-ready.ts'

/**
 * The taint an operator puts on a node they know is down (Kubernetes' non-graceful node
 * shutdown, GA in 1.28): pods that do not tolerate it are deleted, and once the node is also
 * NotReady the pod garbage collector force-deletes them, so a StatefulSet may create its pod
 * again elsewhere. Without it, a StatefulSet's pod on a lost node stays Terminating for good:
 * the StatefulSet controller never makes a second pod of the same name while one exists.
 */
export const OUT_OF_SERVICE: V1Taint = {
  key: 'node.kubernetes.io/out-of-service',
  value: 'nodeshutdown',
  effect: 'NoExecute',
}

/** How long a node may take to answer again once its machine is back. */
const BACK_TIMEOUT_MS = 120_000

/** A node lost on purpose, and how to bring it back. */
export interface LostNode {
  readonly name: string
  /** How it was lost, for a check's report. */
  readonly how: string
  /** Brings the node back, Ready and schedulable, as it was before. */
  recover(): Promise<void>
}

/**
 * Loses a node as a drill. Where nodes run containers (kind), its machine stops: `docker pause`
 * freezes every process of the node container, kubelet and pods alike, as a power loss or a hung
 * kernel looks from outside (no heartbeat, no answer, no reset), and it is tainted out of service
 * as an operator does once the machine is known to be down. On kwok, whose nodes are only
 * objects, the Node is deleted: the pod garbage collector removes pods bound to a node that no
 * longer exists, after its 40 s quarantine.
 */
export async function loseNode(kube: KubeContext, name: string): Promise<LostNode> {
  const node = await kube.core.readNode({ name })
  if (await clusterRunsContainers(kube)) {
    await docker('pause', name)
    try {
      await setTaints(kube, name, [...(node.spec?.taints ?? []), OUT_OF_SERVICE])
    } catch (error) {
      // No drill to recover from yet: the node must not stay frozen.
      await docker('unpause', name)
      throw error
    }
    return {
      name,
      how: 'its machine stopped (docker pause) and tainted out of service',
      async recover() {
        await docker('unpause', name)
        await waitUntilReady(kube, name)
        const current = await kube.core.readNode({ name })
        await setTaints(
          kube,
          name,
          (current.spec?.taints ?? []).filter((taint) => taint.key !== OUT_OF_SERVICE.key),
        )
      },
    }
  }
  await kube.core.deleteNode({ name })
  return {
    name,
    how: 'its Node deleted',
    async recover() {
      await kube.core.createNode({ body: recreated(node) })
      await advertiseGpus(kube)
      await waitUntilReady(kube, name)
    },
  }
}

/** The Node as it was created: its name, labels, annotations, spec and capacity, none of the API server's fields. */
function recreated(node: V1Node): V1Node {
  const { name, labels, annotations } = node.metadata!
  const { capacity, allocatable, nodeInfo } = node.status ?? {}
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels, annotations },
    spec: { ...node.spec, taints: node.spec?.taints?.filter((taint) => taint.key !== OUT_OF_SERVICE.key) },
    status: { capacity, allocatable, nodeInfo },
  }
}

async function setTaints(kube: KubeContext, name: string, taints: V1Taint[]): Promise<void> {
  // A merge patch replaces the whole list, which is what removing one taint needs.
  await kube.core.patchNode(
    { name, body: { spec: { taints: taints.length > 0 ? taints : null } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  )
}

async function waitUntilReady(kube: KubeContext, name: string): Promise<void> {
  const { held } = await pollUntil(() => kube.core.readNode({ name }), isNodeReady, {
    timeoutMs: BACK_TIMEOUT_MS,
    intervalMs: 2_000,
  })
  if (!held) throw new Error(`the node ${name} was not Ready ${BACK_TIMEOUT_MS / 1000} s after it came back`)
}

async function docker(command: 'pause' | 'unpause', node: string): Promise<void> {
  try {
    await exec('docker', [command, node])
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    throw new Error(
      `could not ${command} the node's machine: the drill stops a node of a kind cluster, whose nodes are Docker containers named as the nodes (${error.output.trim()})`,
      { cause: error },
    )
  }
}
