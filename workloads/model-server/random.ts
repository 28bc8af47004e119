/** A source of numbers in [0, 1). Logic takes one as a parameter, so tests and `--seed` control it. */
export type Random = () => number

/** A small, well-known seeded generator (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** FNV-1a: a fast 32-bit hash of a string, to derive a per-request seed. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

/**
 * A normally distributed sample (Box–Muller), clamped to three standard deviations so one
 * unlucky draw cannot stall a request for long.
 */
export function normalSample(random: Random, mean: number, stdDev: number): number {
  if (stdDev <= 0) return mean
  const u1 = 1 - random() // in (0, 1]: log(0) would be -Infinity
  const u2 = random()
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
  return mean + stdDev * Math.max(-3, Math.min(3, z))
}
