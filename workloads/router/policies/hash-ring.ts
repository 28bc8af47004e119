import { createHash } from 'node:crypto'

/** Points per node on the ring: more points, a more even share of keys per node. */
export const defaultVirtualNodes = 160

/**
 * A consistent-hash ring with virtual nodes, in the way of ketama (and of uhashring, which vLLM
 * production-stack's session router uses): each node is hashed onto the ring at many points; a
 * key belongs to the first point at or after its own hash. Adding a node takes over only the
 * keys that now land on its points, about 1/n of them; removing one moves only its own keys.
 */
export class HashRing {
  /** Sorted positions and the node at each. */
  readonly #points: Uint32Array
  readonly #owners: string[]

  constructor(nodes: readonly string[], virtualNodes = defaultVirtualNodes) {
    const points: { position: number; node: string }[] = []
    for (const node of new Set(nodes)) {
      // Four 32-bit positions from each MD5 digest, as ketama does.
      for (let i = 0; i < Math.ceil(virtualNodes / 4); i++) {
        const digest = createHash('md5').update(`${node}#${i}`).digest()
        for (let part = 0; part < 4 && i * 4 + part < virtualNodes; part++) {
          points.push({ position: digest.readUInt32BE(part * 4), node })
        }
      }
    }
    // Equal positions (rare) go to the smaller name, so every ring built from the same nodes agrees.
    points.sort((a, b) => a.position - b.position || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    this.#points = Uint32Array.from(points, (p) => p.position)
    this.#owners = points.map((p) => p.node)
  }

  /** The node that owns `key`; undefined only for an empty ring. */
  nodeFor(key: string): string | undefined {
    if (this.#owners.length === 0) return undefined
    const hash = createHash('md5').update(key).digest().readUInt32BE(0)
    // The first point at or after the key's hash, wrapping to the first point.
    let low = 0
    let high = this.#points.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (this.#points[middle]! < hash) low = middle + 1
      else high = middle
    }
    return this.#owners[low % this.#owners.length]
  }
}
