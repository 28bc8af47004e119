/**
 * Fenced writes: every write a leader makes carries its fencing token (leader-election.ts), and
 * the object written keeps the highest token that wrote it, in an annotation. A write whose token
 * is lower than the stored one comes from a deposed leader and is refused.
 *
 * Why this fences and a Lease alone does not: the Lease only tells a leader what was true when it
 * last renewed. A leader paused (GC, a stalled node, a slow network) can wake after its lease
 * expired and write before it notices, while a new leader writes too; client-go says it does not
 * guarantee a single leader, and kubernetes/kubernetes#67651 shows the overlap. Here the check of
 * the stored token and the write are one atomic step: the write names the resourceVersion that
 * was read, so the API server refuses it (409) if anything, a new leader's write included,
 * changed the object in between. The read is then repeated and the token checked again.
 *
 * The token is only as good as its source: a Lease deleted and created again starts counting at
 * 0, so the fenced objects must outlive the Lease, or be fenced anew.
 */
import type { CoreV1Api, KubernetesObject, V1ConfigMap } from '@kubernetes/client-node'

export const FENCING_ANNOTATION = 'serving-lab.io/fencing-token'

/** A write refused because the object was written by a newer leader. */
export class FencedWriteError extends Error {
  override name = 'FencedWriteError'
  constructor(
    readonly token: number,
    readonly storedToken: number | string,
  ) {
    super(`fenced write refused: the writer's token ${token} is older than the object's ${storedToken}`)
  }
}

/** The token an object carries, undefined if none; text that is not a token refuses every write. */
export function storedToken(object: KubernetesObject): number | string | undefined {
  const raw = object.metadata?.annotations?.[FENCING_ANNOTATION]
  if (raw === undefined) return undefined
  return /^\d+$/.test(raw) ? Number(raw) : raw
}

/** Throws FencedWriteError unless a writer holding `token` may write an object that carries `stored`. */
export function checkFence(token: number, stored: number | string | undefined): void {
  if (stored === undefined) return
  if (typeof stored === 'string' || stored > token) throw new FencedWriteError(token, stored)
}

/** How to read and replace one object; `replace` must send the object's resourceVersion. */
export interface ObjectAccess<T extends KubernetesObject> {
  read(): Promise<T>
  replace(object: T): Promise<T>
}

/**
 * Reads the object, refuses if its token is newer than `token`, applies `change`, stamps `token`
 * and replaces it with the resourceVersion read; on 409 reads again and checks again.
 */
export async function fencedUpdate<T extends KubernetesObject>(
  access: ObjectAccess<T>,
  token: number,
  change: (object: T) => T,
  attempts = 5,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const current = await access.read()
    checkFence(token, storedToken(current))
    const next = change(structuredClone(current))
    next.metadata = {
      ...next.metadata,
      resourceVersion: current.metadata?.resourceVersion,
      annotations: { ...next.metadata?.annotations, [FENCING_ANNOTATION]: String(token) },
    }
    try {
      return await access.replace(next)
    } catch (error) {
      if ((error as { code?: number } | null)?.code !== 409 || attempt >= attempts) throw error
    }
  }
}

/** A ConfigMap as a fenced object. */
export function configMapAccess(core: CoreV1Api, namespace: string, name: string): ObjectAccess<V1ConfigMap> {
  return {
    read: () => core.readNamespacedConfigMap({ name, namespace }),
    replace: (body) => core.replaceNamespacedConfigMap({ name, namespace, body }),
  }
}
