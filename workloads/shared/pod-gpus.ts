/**
 * What a pod holds of its node's GPUs, read the same way by the scheduler and the GPU inventory
 * agent. A pod's `nvidia.com/gpu` follows the kubelet's rule for extended resources: a
 * container's request equals its limit (a limit alone sets both), and the pod needs the sum over
 * its containers or the largest init container, whichever is more. Pods that finished
 * (Succeeded, Failed) hold nothing.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node'

export const GPU_RESOURCE = 'nvidia.com/gpu'
/** Memory one GPU must have for the pod's model, in MiB: the calculator's figure per GPU. */
export const GPU_MEMORY_ANNOTATION = 'serving-lab.io/gpu-memory-mib'

/** A whole, positive quantity; 0 for anything else. */
export const wholeQuantity = (raw: string | undefined): number => {
  const value = Number(raw ?? 0)
  return Number.isInteger(value) && value > 0 ? value : 0
}

function containerGpus(container: V1Container): number {
  const { requests, limits } = container.resources ?? {}
  return wholeQuantity(requests?.[GPU_RESOURCE] ?? limits?.[GPU_RESOURCE])
}

/** The GPUs a pod needs on its node. */
export function podGpus(pod: V1Pod): number {
  const spec = pod.spec
  if (!spec) return 0
  const running = spec.containers.reduce((sum, c) => sum + containerGpus(c), 0)
  const init = Math.max(0, ...(spec.initContainers ?? []).map(containerGpus))
  return Math.max(running, init)
}

/** A pod that holds its node's resources: bound, and not finished. */
export function holdsResources(pod: V1Pod): boolean {
  const phase = pod.status?.phase
  return Boolean(pod.spec?.nodeName) && phase !== 'Succeeded' && phase !== 'Failed'
}

/** The per-GPU memory a pod states; 0 when it states none; NaN when the annotation is not a whole number. */
export function memoryNeed(pod: V1Pod): number {
  const raw = pod.metadata?.annotations?.[GPU_MEMORY_ANNOTATION]
  if (raw === undefined) return 0
  return /^\d+$/.test(raw.trim()) ? Number(raw) : NaN
}
