// The generated parts of one lesson (docs/steps/NN-*.md), built from the repository at docs build
// time: what changed since the previous step, a recorded passing run, the "when a check fails"
// table and what cleaning up must remove.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { readManifests } from '../manifests.ts'
import { MUTATIONS_FILE, readMutations, type Mutation } from '../mutations/mutations-file.ts'
import { readRecordedResults } from '../mutations/table.ts'
import { findStep, listSteps, loadStepChecks, type Step } from '../steps.ts'
import { failureTable, stepObjects, type CheckSummary, type FailureTable } from './failure-table.ts'
import { readRecordedRun, runText, type RecordedRun } from './recorded-run.ts'
import { stepDiff, type StepDiff } from './step-diff.ts'
import { existsSync } from 'node:fs'

export interface Lesson {
  step: string
  folder: string
  /** Against the step before; none for step 01. */
  diff?: StepDiff
  /** The recorded passing run, and its text as the runner prints it; none until one is recorded. */
  run?: Omit<RecordedRun, 'report'> & { text: string; skipped: number }
  failures: FailureTable
  /** The step's mistakes in the order of its mutations.yaml, for the "break it" exercise. */
  mistakes: { name: string; why: string }[]
  /** Every namespace the step's manifests create, its optional folders (step 03's leaderworkerset/) included. */
  namespaces: string[]
  /** What the step creates outside any namespace, as `kind name` for kubectl delete (step 06's PriorityClasses, ClusterRoles). */
  clusterScoped: string[]
}

/** How a step's test script is loaded: plain import() under tsx and vitest, tsx's tsImport in the docs build. */
export type ImportModule = (path: string) => Promise<unknown>

/** A step's checks, then its drills, as the runner runs them. */
export async function stepChecks(step: Step, importModule: ImportModule): Promise<CheckSummary[]> {
  const { checks, drills } = await loadStepChecks(step, importModule)
  return [...checks, ...drills].map(({ id, title, needs }) => ({ id, title, needs }))
}

/** The namespaces created by the YAML in a step's folder and its subfolders (the mutations list aside). */
export async function stepNamespaces(dir: string): Promise<string[]> {
  const namespaces = (await readManifests(dir)).filter((o) => o.kind === 'Namespace').map((o) => o.metadata!.name!)
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name !== MUTATIONS_FILE.split('/')[0])
      namespaces.push(...(await stepNamespaces(join(dir, entry.name))))
  }
  return namespaces
}

/** The objects of a step's own folder that have no namespace (the Namespace itself aside), as `kind name`. */
export async function stepClusterScoped(dir: string): Promise<string[]> {
  return (await readManifests(dir))
    .filter((o) => o.kind !== 'Namespace' && !o.metadata?.namespace)
    .map((o) => `${o.kind!.toLowerCase()} ${o.metadata!.name!}`)
}

export async function buildLesson(id: string, importModule: ImportModule = (path) => import(path)): Promise<Lesson> {
  const steps = await listSteps()
  const step = await findStep(id)
  const previous = steps[steps.indexOf(steps.find((s) => s.id === step.id)!) - 1]
  const mutations: Mutation[] = existsSync(join(step.dir, MUTATIONS_FILE)) ? await readMutations(step.dir) : []
  const run = await readRecordedRun(step.id)
  return {
    step: step.id,
    folder: step.folder,
    ...(previous ? { diff: await stepDiff(previous, step) } : {}),
    ...(run
      ? {
          run: {
            step: run.step,
            command: run.command,
            provider: run.provider,
            context: run.context,
            kubernetes: run.kubernetes,
            runsContainers: run.runsContainers,
            at: run.at,
            text: runText(run),
            skipped: run.report.total.skipped,
          },
        }
      : {}),
    failures: failureTable(
      step.id,
      await stepChecks(step, importModule),
      mutations,
      await stepObjects(step),
      await readRecordedResults(),
    ),
    mistakes: mutations.map(({ name, why }) => ({ name, why })),
    namespaces: await stepNamespaces(step.dir),
    clusterScoped: await stepClusterScoped(step.dir),
  }
}
