// The mutation suite on the shared kwok cluster: every step's listed learner mistakes that show
// through the API server alone are applied to a fresh copy of the step and must be caught, with
// the hint naming the cause; the unmutated step must pass. Mistakes that show only where
// containers run are reported skipped here, never caught. Short check timeouts keep it quick: a
// check that must fail waits only that long.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { stopStandIns } from '../../scripts/lib/stand-ins.ts'
import { connect } from '../../scripts/lib/kube.ts'
import { mutationNeeds } from '../../scripts/lib/mutations/judge.ts'
import { awaitLabDeletions } from '../../scripts/lib/namespaces.ts'
import { MUTATIONS_FILE, readMutations } from '../../scripts/lib/mutations/mutations-file.ts'
import type { StepReport } from '../../scripts/lib/mutations/report.ts'
import { loadChecks, runStepMutations } from '../../scripts/lib/mutations/suite.ts'
import { listSteps } from '../../scripts/lib/steps.ts'

const kube = connect(inject('kubeContext'))
// Step 06 on kwok starts the lab scheduler in this process; the suites after this one share the process.
afterAll(stopStandIns)
// Each step's copies are left terminating in the background; the next suites get a clean cluster.
afterAll(() => awaitLabDeletions(kube))
const quiet = () => {}
const FAST = {
  checkTimeoutMs: 5_000,
  rolloutTimeoutMs: 10_000,
  rolloutStallMs: 3_000,
  recheckDelayMs: 300,
  retryDelayMs: 300,
}

const steps = await Promise.all(
  (await listSteps())
    .filter((step) => existsSync(join(step.dir, MUTATIONS_FILE)))
    .map(async (step) => {
      const checks = await loadChecks(step)
      const mutations = (
        await readMutations(
          step.dir,
          checks.map((c) => c.id),
        )
      ).map((m) => ({ ...m, needs: mutationNeeds(m, checks) }))
      return { step, mutations }
    }),
)

describe.each(steps.map(({ step, mutations }) => [step.folder, step, mutations] as const))(
  'steps/%s: mutations on the kwok cluster',
  (_folder, step, mutations) => {
    let report: StepReport
    const resultOf = (name: string) => report.mutations.find((m) => m.name === name)!

    beforeAll(async () => {
      report = await runStepMutations(kube, step, { runsContainers: false, emit: quiet, ...FAST })
    }, 600_000)

    it('the unmutated step passes its checks (pods checks skipped)', () => {
      expect(report.baseline.passed, JSON.stringify(report.baseline.checks)).toBe(true)
      expect(report.mutations.map((m) => m.name)).toEqual(mutations.map((m) => m.name))
    })

    it.each(mutations.filter((m) => m.needs === 'api').map((m) => [m.name, m] as const))(
      '%s is caught, its hint naming the cause',
      (name, mutation) => {
        const result = resultOf(name)
        expect(result.problems).toEqual([])
        expect(result).toMatchObject({ status: 'caught', by: mutation.expect === 'rejected' ? 'api-server' : 'checks' })
        for (const word of mutation.hint) expect(result.message?.toLowerCase()).toContain(word.toLowerCase())
      },
    )

    it.each(mutations.filter((m) => m.needs === 'pods').map((m) => [m.name] as const))(
      '%s needs running containers: skipped, with the reason',
      (name) => {
        expect(resultOf(name)).toMatchObject({ status: 'skipped', problems: [] })
        expect(resultOf(name).reason).toContain('run')
      },
    )
  },
)
