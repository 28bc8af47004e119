import { describe, expect, it } from 'vitest'
import { createLatencyModel } from '../../workloads/model-server/latency.ts'
import type { LatencySettings } from '../../workloads/model-server/latency.ts'
import { normalSample, seededRandom } from '../../workloads/model-server/random.ts'

const settings: LatencySettings = {
  timeToFirstTokenMs: 100,
  timeToFirstTokenStdDevMs: 0,
  prefillTimePerTokenMs: 0.5,
  interTokenLatencyMs: 20,
  interTokenLatencyStdDevMs: 0,
  loadSlowdown: 1,
  maxNumSeqs: 4,
}

/** A random source that replays the given numbers, so a test knows every draw. */
function replay(...values: number[]) {
  let i = 0
  return () => values[i++ % values.length]!
}

describe('model-server latency model', () => {
  it('adds prefill time for every prompt token the cache did not hold', () => {
    const model = createLatencyModel(settings, replay(0.5))
    expect(model.timeToFirstTokenMs(0)).toBe(100)
    expect(model.timeToFirstTokenMs(200)).toBe(200)
  })

  it('slows each decode step as the batch fills, up to 1 + slowdown at max-num-seqs', () => {
    const model = createLatencyModel(settings, replay(0.5))
    expect(model.interTokenLatencyMs(0)).toBe(20)
    expect(model.interTokenLatencyMs(2)).toBe(30)
    expect(model.interTokenLatencyMs(4)).toBe(40)
    expect(model.interTokenLatencyMs(9)).toBe(40)
  })

  it('draws its jitter from the random source it is given', () => {
    const jittery = { ...settings, timeToFirstTokenStdDevMs: 10, interTokenLatencyStdDevMs: 5 }
    // u1 = 1 - 0.6 and u2 = 0: z = sqrt(-2 ln 0.4) ≈ 1.354, one draw pair per sample.
    const z = Math.sqrt(-2 * Math.log(0.4))
    const model = createLatencyModel(jittery, replay(0.6, 0))
    expect(model.timeToFirstTokenMs(0)).toBeCloseTo(100 + 10 * z, 9)
    expect(model.interTokenLatencyMs(0)).toBeCloseTo(20 + 5 * z, 9)
    const seeded = () => createLatencyModel(jittery, seededRandom(3))
    const [a, b] = [seeded(), seeded()]
    expect([a.timeToFirstTokenMs(5), a.interTokenLatencyMs(1)]).toEqual([
      b.timeToFirstTokenMs(5),
      b.interTokenLatencyMs(1),
    ])
  })

  it('keeps a normal sample within three standard deviations, and never below zero in the model', () => {
    // u1 = 1 - 0.999999999 is tiny: z would be about 6.4 without the clamp.
    expect(normalSample(replay(0.999999999, 0), 50, 10)).toBe(80)
    expect(normalSample(replay(0.999999999, 0.5), 50, 10)).toBe(20)
    const model = createLatencyModel(
      { ...settings, timeToFirstTokenMs: 10, timeToFirstTokenStdDevMs: 10 },
      replay(0.999999999, 0.5),
    )
    expect(model.timeToFirstTokenMs(0)).toBe(0)
  })

  it('uses no randomness when the standard deviations are zero', () => {
    let draws = 0
    const model = createLatencyModel(settings, () => (draws++, 0.5))
    model.timeToFirstTokenMs(10)
    model.interTokenLatencyMs(1)
    expect(draws).toBe(0)
  })
})
