// The docs' view of the mutation suite: per step, the mistakes listed and what the recorded run
// made of them. Built from the mutations.yaml files and the recorded results (docs/data/mutations.json).
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../project.ts'
import { listSteps } from '../steps.ts'
import { MUTATIONS_FILE, readMutations, type Mutation } from './mutations-file.ts'
import type { MutationResult, SuiteReport } from './report.ts'

export const RECORDED_RESULTS = join(repoRoot, 'docs', 'data', 'mutations.json')

export interface ListedStep {
  step: string
  folder: string
  mutations: Mutation[]
}

export interface StepRow {
  step: string
  folder: string
  listed: number
  caught: number
  /** Skipped on the recorded cluster: they need running containers, and its nodes run none. */
  skipped: number
  missed: number
}

export interface MutationRow {
  step: string
  name: string
  why: string
  /** The checks that must fail, or "refused by the API server". */
  caughtBy: string
  hint: string[]
  status: MutationResult['status'] | 'not recorded'
  /** What a learner reads: the failing check's hint, or the API server's refusal. */
  message?: string
}

export interface MutationTable {
  cluster: SuiteReport['cluster']
  steps: StepRow[]
  mutations: MutationRow[]
}

/** Every step that has a mutations.yaml, with its list (check ids are validated by the suite and its tests). */
export async function listedMutations(): Promise<ListedStep[]> {
  const steps = (await listSteps()).filter((step) => existsSync(join(step.dir, MUTATIONS_FILE)))
  return Promise.all(
    steps.map(async (step) => ({ step: step.id, folder: step.folder, mutations: await readMutations(step.dir) })),
  )
}

export async function readRecordedResults(file = RECORDED_RESULTS): Promise<SuiteReport> {
  return JSON.parse(await readFile(file, 'utf8')) as SuiteReport
}

/** The table rows: one per step and one per mutation; a listed mutation the recording lacks shows as "not recorded". */
export function mutationTable(listed: readonly ListedStep[], recorded: SuiteReport): MutationTable {
  const steps: StepRow[] = []
  const mutations: MutationRow[] = []
  for (const { step, folder, mutations: list } of listed) {
    const results = recorded.steps.find((s) => s.step === step)?.mutations ?? []
    const rows = list.map((mutation): MutationRow => {
      const result = results.find((r) => r.name === mutation.name)
      return {
        step,
        name: mutation.name,
        why: mutation.why,
        caughtBy: mutation.expect === 'rejected' ? 'refused by the API server' : mutation.fails.join(', '),
        hint: mutation.hint,
        status: result?.status ?? 'not recorded',
        ...(result?.message ? { message: result.message } : {}),
      }
    })
    const count = (status: MutationRow['status']) => rows.filter((r) => r.status === status).length
    steps.push({
      step,
      folder,
      listed: rows.length,
      caught: count('caught'),
      skipped: count('skipped'),
      missed: rows.length - count('caught') - count('skipped'),
    })
    mutations.push(...rows)
  }
  return { cluster: recorded.cluster, steps, mutations }
}
