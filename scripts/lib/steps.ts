import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Check } from './checks/check.ts'
import { EnvironmentError } from './errors.ts'
import { readManifests } from './manifests.ts'
import { repoRoot } from './project.ts'

export const stepsDir = join(repoRoot, 'steps')

export interface Step {
  /** Two digits: "01". */
  id: string
  /** The folder name: "01-basic-statefulset". */
  folder: string
  dir: string
  /** The verification script, `test-NN-*.ts`: a TypeScript module exporting its checks, run by the runner or with tsx on its own. */
  testFile: string
}

/**
 * What a step's test script exports: its checks, and its drills, if it has any: checks that
 * break part of the cluster on purpose (a node) and put it back, run after the checks. The
 * mutation suite judges the manifests on the checks alone.
 */
export async function loadStepChecks(
  step: Step,
  // The docs build loads the scripts with tsx's tsImport; everything else with import().
  importModule: (path: string) => Promise<unknown> = (path) => import(path),
): Promise<{ checks: Check[]; drills: Check[] }> {
  const module = (await importModule(step.testFile)) as { checks?: Check[]; drills?: Check[] }
  if (!Array.isArray(module.checks)) throw new Error(`${step.testFile} must export its list of checks as 'checks'`)
  return { checks: module.checks, drills: module.drills ?? [] }
}

export async function listSteps(): Promise<Step[]> {
  const steps: Step[] = []
  for (const entry of await readdir(stepsDir, { withFileTypes: true })) {
    const match = /^(\d{2})-[a-z0-9-]+$/.exec(entry.name)
    if (!entry.isDirectory() || !match) continue
    const dir = join(stepsDir, entry.name)
    const testName = (await readdir(dir)).find((file) => /^test-\d{2}-.*\.ts$/.test(file))
    if (!testName) throw new Error(`steps/${entry.name} has no test-${match[1]}-*.ts verification script`)
    steps.push({ id: match[1]!, folder: entry.name, dir, testFile: join(dir, testName) })
  }
  return steps.sort((a, b) => a.id.localeCompare(b.id))
}

/** Accepts "3", "03" or "03-multi-node-tp". */
export async function findStep(argument: string): Promise<Step> {
  const steps = await listSteps()
  const wanted = /^\d{1,2}$/.test(argument) ? argument.padStart(2, '0') : argument
  const step = steps.find((s) => s.id === wanted || s.folder === wanted)
  if (!step) {
    throw new EnvironmentError(
      `there is no step '${argument}'; the steps are: ${steps.map((s) => s.folder).join(', ')}`,
    )
  }
  return step
}

/** The namespace a step's manifests create: each step lives in its own. */
export async function stepNamespace(step: Step): Promise<string> {
  const namespaces = (await readManifests(step.dir)).filter((o) => o.kind === 'Namespace')
  if (namespaces.length !== 1)
    throw new Error(`steps/${step.folder} must create exactly one Namespace (found ${namespaces.length})`)
  return namespaces[0]!.metadata!.name!
}
