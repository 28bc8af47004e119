import { writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from '../args.ts'
import { exitCodeFor, reportError } from '../errors.ts'
import { clusterRunsContainers, connect } from '../kube.ts'
import { ensureApplied } from '../step-presence.ts'
import { createPrinter, summarize } from '../output.ts'
import { stepNamespace, type Step } from '../steps.ts'
import { resolveTarget } from '../target.ts'
import type { Check } from './check.ts'
import { runChecks } from './run-checks.ts'

/** True when this module is the script node was asked to run (not imported by the runner). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(moduleUrl)
}

/**
 * A step's test script run on its own: verifies the step that is already applied, on the
 * lab's cluster (`--provider`, default kind) or on `--context NAME`. Prints one line per check
 * and the summary; exits 0 when all passed, 1 when one failed, 2 when the environment is wrong.
 * `--record FILE` writes each check's last observation, keyed by check id: what the unit tests
 * judge the checks on (test/unit/fixtures), valid however a title is reworded.
 */
export async function runStandalone(moduleUrl: string, checks: readonly Check[]): Promise<never> {
  const args = parseArgs(process.argv.slice(2), ['json', 'context', 'provider', 'cluster', 'record'])
  const printer = createPrinter(Boolean(args.json))
  try {
    const dir = dirname(fileURLToPath(moduleUrl))
    const folder = dir.split('/').at(-1)!
    const step: Step = { id: folder.slice(0, 2), folder, dir, testFile: fileURLToPath(moduleUrl) }
    const target = resolveTarget(args)
    const kube = connect(target.context)
    const namespace = await stepNamespace(step)
    await ensureApplied(kube, step)
    const observations: Record<string, unknown> = {}
    const observed = (item: Check, observation: unknown) => (observations[item.id] = observation)
    const runsContainers = await clusterRunsContainers(kube)
    const results = await runChecks(checks, { kube, namespace }, { runsContainers, emit: printer.emit, observed })
    if (args.record) await writeFile(args.record, JSON.stringify(observations, null, 2) + '\n')
    const summary = summarize(results)
    printer.emit({ kind: 'summary', step: step.id, ...summary })
    printer.finish()
    process.exit(summary.failed > 0 ? 1 : 0)
  } catch (error) {
    reportError(error)
    process.exit(exitCodeFor(error))
  }
}
