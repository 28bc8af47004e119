// What the runner runs itself, on a cluster whose pods never run (kwok), in place of a step's
// pods: step 06's scheduler (scheduler-stand-in.ts), step 07's metrics adapter
// (metrics-adapter-stand-in.ts). One list of them, by cluster, namespace and name, so that a
// namespace's go before the namespace does and every one goes when a run ends.
import type { KubeContext } from './kube.ts'

export interface StandIn {
  /** Stops it and removes what it leaves behind outside its namespace. */
  stop(): Promise<void>
}

const running = new Map<string, StandIn>()
const prefix = (kube: KubeContext, namespace: string) => `${kube.context}/${namespace}/`

export const hasStandIn = (kube: KubeContext, namespace: string, name: string): boolean =>
  running.has(prefix(kube, namespace) + name)

/** Keeps a stand-in to stop later. Its starter stops (or keeps) an earlier one of the same name first. */
export function keepStandIn(kube: KubeContext, namespace: string, name: string, standIn: StandIn): void {
  const key = prefix(kube, namespace) + name
  if (running.has(key)) throw new Error(`a stand-in ${name} already runs for ${key}: stop it before starting another`)
  running.set(key, standIn)
}

/** Stops the stand-ins of `namespace` (all of them, or the one named), before the namespace is deleted. */
export async function stopStandIn(kube: KubeContext, namespace: string, name?: string): Promise<void> {
  const keys = [...running.keys()].filter((key) =>
    name === undefined ? key.startsWith(prefix(kube, namespace)) : key === prefix(kube, namespace) + name,
  )
  const stopping = keys.map((key) => running.get(key)!)
  for (const key of keys) running.delete(key)
  await Promise.all(stopping.map((s) => s.stop()))
}

/** Stops every stand-in (when a run ends, and tests that must end cleanly). */
export async function stopStandIns(): Promise<void> {
  const all = [...running.values()]
  running.clear()
  await Promise.all(all.map((s) => s.stop()))
}
