// The recorded results the docs' table is built from (docs/data/mutations.json) must name exactly
// the mutations the steps' mutations.yaml files list, so the table cannot drift from the lists.
import { describe, expect, it } from 'vitest'
import { listedMutations, mutationTable, readRecordedResults } from '../../scripts/lib/mutations/table.ts'

const listed = await listedMutations()
const recorded = await readRecordedResults()

describe('docs/data/mutations.json', () => {
  it('has the steps that list mutations, in order', () => {
    expect(recorded.steps.map((s) => s.step)).toEqual(listed.map((s) => s.step))
  })

  it.each(listed.map((step) => [step.folder, step] as const))(
    'names exactly the mutations steps/%s lists, in its order',
    (_folder, step) => {
      const results = recorded.steps.find((s) => s.step === step.step)!
      expect(results.mutations.map((m) => m.name)).toEqual(step.mutations.map((m) => m.name))
    },
  )

  it('records a passing unmutated step and no missed mutation', () => {
    for (const step of recorded.steps) {
      expect(step.baseline.passed, step.folder).toBe(true)
      expect(
        step.mutations.filter((m) => m.status === 'missed').map((m) => m.name),
        step.folder,
      ).toEqual([])
    }
  })

  it('the table counts every listed mutation once', () => {
    const table = mutationTable(listed, recorded)
    for (const row of table.steps) expect(row.caught + row.skipped + row.missed).toBe(row.listed)
    expect(table.mutations.filter((m) => m.status === 'not recorded')).toEqual([])
  })
})
