import { describe, expect, it } from 'vitest'
import { check, fail, NAMESPACE, pass, type Check, type CheckEnv } from '../../scripts/lib/checks/check.ts'
import { kubectl } from '../../scripts/lib/checks/kit.ts'
import { runCheck, runChecks, runGroups, type RunOptions } from '../../scripts/lib/checks/run-checks.ts'
import type { LabEvent } from '../../scripts/lib/output.ts'

const env = {} as CheckEnv
const fast = (overrides: Partial<RunOptions> = {}): RunOptions => ({
  runsContainers: true,
  emit: () => {},
  recheckDelayMs: 1,
  retryDelayMs: 1,
  defaultTimeoutMs: 200,
  ...overrides,
})

/** A check whose observations come from a list, one per call (the last one repeats). */
function scripted(observations: boolean[], needs: 'api' | 'pods' = 'api') {
  let calls = 0
  const item = check({
    id: 'the-thing-holds',
    title: 'the thing holds',
    needs,
    observe: async () => observations[Math.min(calls++, observations.length - 1)]!,
    evaluate: (holds: boolean) => (holds ? pass : fail('it holds', 'it does not', 'make it hold')),
  })
  return { item, calls: () => calls }
}

describe('runCheck', () => {
  it('passes only after a re-check confirms the first passing observation', async () => {
    const { item, calls } = scripted([false, false, true, true])
    const result = await runCheck(item, env, fast())
    expect(result.status).toBe('passed')
    expect(result.attempts).toBe(3)
    expect(calls()).toBe(4)
  })

  it('does not pass a state that holds only for an instant', async () => {
    const { item } = scripted([true, false])
    const result = await runCheck(item, env, fast({ defaultTimeoutMs: 30 }))
    expect(result).toMatchObject({ status: 'failed', expected: 'it holds', seen: 'it does not', hint: 'make it hold' })
  })

  it('fails with the last verdict when the timeout ends', async () => {
    const { item, calls } = scripted([false])
    const result = await runCheck(item, env, fast({ defaultTimeoutMs: 50, retryDelayMs: 10 }))
    expect(result.status).toBe('failed')
    expect(calls()).toBeGreaterThan(1)
    expect(calls()).toBeLessThan(10)
  })

  it("caps the check's own timeout with the run's timeoutMs, and reports the check's id", async () => {
    const { item, calls } = scripted([false])
    const started = Date.now()
    const result = await runCheck({ ...item, timeoutMs: 60_000 }, env, fast({ timeoutMs: 40, retryDelayMs: 5 }))
    expect(result).toMatchObject({ id: 'the-thing-holds', status: 'failed' })
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(calls()).toBeGreaterThan(1)
  })

  it("keeps waiting for the check's minimumTimeoutMs under a shorter cap", async () => {
    // False until the cap has passed, then true: only a check that outlives the cap sees it.
    const started = Date.now()
    const item = check({
      id: 'slow-controller',
      title: 'a controller acts on its period',
      needs: 'api',
      timeoutMs: 60_000,
      minimumTimeoutMs: 400,
      observe: async () => Date.now() - started > 100,
      evaluate: (holds: boolean) => (holds ? pass : fail('it holds', 'it does not', 'wait for it')),
    })
    const result = await runCheck(item, env, fast({ timeoutMs: 40, retryDelayMs: 10 }))
    expect(result.status).toBe('passed')
  })

  it('skips pods checks, without observing, where no container runs', async () => {
    const { item, calls } = scripted([true], 'pods')
    const result = await runCheck(item, env, fast({ runsContainers: false }))
    expect(result.status).toBe('skipped')
    expect(result.reason).toContain('run no containers')
    expect(calls()).toBe(0)
  })

  it('runs pods checks where containers run', async () => {
    const { item } = scripted([true], 'pods')
    expect((await runCheck(item, env, fast())).status).toBe('passed')
  })

  it('turns an observation error into a failure that shows the error', async () => {
    const item = check({
      id: 'reads-the-cluster',
      title: 'reads the cluster',
      needs: 'api',
      observe: async (): Promise<number> => {
        throw Object.assign(new Error('HTTP-Code: 404'), {
          code: 404,
          body: JSON.stringify({ reason: 'NotFound', message: 'pods "x" not found' }),
        })
      },
      evaluate: () => pass,
    })
    const result = await runCheck(item, env, fast({ defaultTimeoutMs: 20 }))
    expect(result.status).toBe('failed')
    expect(result.seen).toBe('an error: NotFound: pods "x" not found')
  })

  it('runs act once, before observing, and fails when it throws', async () => {
    const order: string[] = []
    const item = check({
      id: 'provokes-and-watches',
      title: 'provokes and watches',
      needs: 'api',
      act: async () => void order.push('act'),
      observe: async () => order.push('observe'),
      evaluate: () => pass,
    })
    await runCheck(item, env, fast())
    expect(order).toEqual(['act', 'observe', 'observe'])
    const broken = check({ ...item, act: async () => Promise.reject(new Error('forbidden')) })
    expect(await runCheck(broken, env, fast())).toMatchObject({ status: 'failed', seen: 'an error: forbidden' })
  })

  it("runs a drill's recover last, whether the check passed or failed, and fails the check when recovery fails", async () => {
    const order: string[] = []
    const drill = check({
      id: 'breaks-and-mends',
      title: 'breaks and mends',
      needs: 'api',
      act: async () => void order.push('act'),
      observe: async () => order.push('observe'),
      evaluate: () => pass,
      recover: async () => void order.push('recover'),
    })
    expect(await runCheck(drill, env, fast())).toMatchObject({ status: 'passed' })
    expect(order).toEqual(['act', 'observe', 'observe', 'recover'])

    order.length = 0
    const failing = check({ ...drill, evaluate: () => fail('mended', 'broken', 'mend it') })
    expect(await runCheck(failing, env, fast())).toMatchObject({ status: 'failed', seen: 'broken', hint: 'mend it' })
    expect(order.at(-1)).toBe('recover')

    const stuck = check({ ...failing, recover: async () => Promise.reject(new Error('node not Ready')) })
    expect(await runCheck(stuck, env, fast())).toMatchObject({
      status: 'failed',
      expected: 'the drill to put the cluster back as it found it',
      seen: 'an error: node not Ready; before it, the check had failed: broken',
    })
    const stuckAfterPass = check({ ...drill, recover: stuck.recover })
    expect(await runCheck(stuckAfterPass, env, fast())).toMatchObject({
      status: 'failed',
      seen: 'an error: node not Ready',
    })
  })

  it('tells every observation it makes, for --record', async () => {
    const { item } = scripted([false, true, true])
    const seen: [string, unknown][] = []
    await runCheck(item, env, fast({ observed: (check, observation) => seen.push([check.id, observation]) }))
    expect(seen).toEqual([
      ['the-thing-holds', false],
      ['the-thing-holds', true],
      ['the-thing-holds', true],
    ])
  })

  it("writes the step's namespace into a failure's text", async () => {
    const item = check({
      id: 'pods-listed',
      title: 'pods are listed',
      needs: 'api',
      observe: async () => false,
      evaluate: () => fail(`pods in ${NAMESPACE}`, 'none', `see ${kubectl('get pods')}`),
    })
    const result = await runCheck(item, { namespace: 'lab-07' } as CheckEnv, fast({ defaultTimeoutMs: 5 }))
    expect(result).toMatchObject({
      status: 'failed',
      expected: 'pods in lab-07',
      hint: 'see kubectl -n lab-07 get pods',
    })
  })
})

describe('runChecks', () => {
  it('emits one event per check, in order', async () => {
    const events: LabEvent[] = []
    const results = await runChecks(
      [scripted([true]).item, scripted([true], 'pods').item],
      env,
      fast({ runsContainers: false, emit: (e) => events.push(e) }),
    )
    expect(results.map((r) => r.status)).toEqual(['passed', 'skipped'])
    expect(events.filter((e) => e.kind === 'check')).toHaveLength(2)
  })

  it('runs read-only api checks side by side: one that holds only once its neighbour has looked passes', async () => {
    let neighbourLooked = false
    const waitsForNeighbour = check({
      id: 'first',
      title: 'first',
      needs: 'api',
      observe: async () => neighbourLooked,
      evaluate: (looked: boolean) => (looked ? pass : fail('the neighbour looked', 'not yet', 'run side by side')),
    })
    const neighbour = check({
      id: 'second',
      title: 'second',
      needs: 'api',
      observe: async () => (neighbourLooked = true),
      evaluate: () => pass,
    })
    const results = await runChecks([waitsForNeighbour, neighbour], env, fast())
    expect(results.map((r) => [r.id, r.status])).toEqual([
      ['first', 'passed'],
      ['second', 'passed'],
    ])
  })

  it('runs a check that acts, or needs pods, alone in its place, and reports in list order', async () => {
    const log: string[] = []
    const logged = (id: string, needs: 'api' | 'pods', act?: boolean): Check =>
      check({
        id,
        title: id,
        needs,
        ...(act ? { act: async () => void log.push(`${id} acts`) } : {}),
        observe: async () => {
          log.push(`${id} observes`)
          // Let the other checks of its group take their turn before this one returns.
          await new Promise((resolve) => setImmediate(resolve))
          log.push(`${id} observed`)
        },
        evaluate: () => pass,
      })
    const checks = [
      logged('a', 'api'),
      logged('b', 'api'),
      logged('acts', 'api', true),
      logged('c', 'api'),
      logged('pods', 'pods'),
      logged('d', 'api'),
    ]
    expect(runGroups(checks).map((group) => group.map((c) => c.id))).toEqual([
      ['a', 'b'],
      ['acts'],
      ['c'],
      ['pods'],
      ['d'],
    ])
    const events: LabEvent[] = []
    const results = await runChecks(checks, env, fast({ emit: (e) => events.push(e) }))
    const first = (entry: string) => log.indexOf(entry)
    const last = (entry: string) => log.lastIndexOf(entry)
    expect(first('b observes')).toBeLessThan(first('a observed'))
    expect(last('a observed')).toBeLessThan(first('acts acts'))
    expect(last('b observed')).toBeLessThan(first('acts acts'))
    expect(last('acts observed')).toBeLessThan(first('c observes'))
    expect(last('c observed')).toBeLessThan(first('pods observes'))
    expect(last('pods observed')).toBeLessThan(first('d observes'))
    expect(results.map((r) => r.id)).toEqual(['a', 'b', 'acts', 'c', 'pods', 'd'])
    expect(events.flatMap((e) => (e.kind === 'check' ? [e.result.id] : []))).toEqual(results.map((r) => r.id))
  })
})
