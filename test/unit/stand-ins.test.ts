// The runner's list of stand-ins: which ones a namespace's stop reaches, and that a second one of
// the same name is refused rather than left running unseen.
import { afterEach, describe, expect, it } from 'vitest'
import type { KubeContext } from '../../scripts/lib/kube.ts'
import { hasStandIn, keepStandIn, stopStandIn, stopStandIns } from '../../scripts/lib/stand-ins.ts'

const kube = { context: 'kwok-test' } as KubeContext
const other = { context: 'kind-test' } as KubeContext

function recorder(stopped: string[], name: string) {
  return { stop: async () => void stopped.push(name) }
}

afterEach(stopStandIns)

describe('stand-ins', () => {
  it("stops a namespace's stand-ins, and only those of its cluster and namespace", async () => {
    const stopped: string[] = []
    keepStandIn(kube, 'lab-06', 'scheduler', recorder(stopped, 'lab-06 scheduler'))
    keepStandIn(kube, 'lab-07', 'metrics-adapter', recorder(stopped, 'lab-07 adapter'))
    keepStandIn(other, 'lab-07', 'metrics-adapter', recorder(stopped, 'other cluster'))
    await stopStandIn(kube, 'lab-07')
    expect(stopped).toEqual(['lab-07 adapter'])
    expect(hasStandIn(kube, 'lab-06', 'scheduler')).toBe(true)
    expect(hasStandIn(other, 'lab-07', 'metrics-adapter')).toBe(true)
    await stopStandIns()
    expect(stopped.sort()).toEqual(['lab-06 scheduler', 'lab-07 adapter', 'other cluster'])
  })

  it('stops one by name and leaves its neighbours', async () => {
    const stopped: string[] = []
    keepStandIn(kube, 'lab-07', 'metrics-adapter', recorder(stopped, 'adapter'))
    keepStandIn(kube, 'lab-07', 'scheduler', recorder(stopped, 'scheduler'))
    await stopStandIn(kube, 'lab-07', 'scheduler')
    expect(stopped).toEqual(['scheduler'])
    expect(hasStandIn(kube, 'lab-07', 'metrics-adapter')).toBe(true)
  })

  it('refuses a second stand-in of the same name', () => {
    keepStandIn(kube, 'lab-07', 'metrics-adapter', recorder([], 'first'))
    expect(() => keepStandIn(kube, 'lab-07', 'metrics-adapter', recorder([], 'second'))).toThrow(/already runs/)
  })
})
