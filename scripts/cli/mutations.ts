// npm run mutations [-- --provider kind|kwok] [--step 03] [--json] [--context NAME] [--record FILE]
// Every step's mutations.yaml on one cluster: each listed learner mistake applied to a fresh copy of
// its step, which the step's checks must catch. Exit 0 when every mutation that could run was
// caught, 1 when one was missed, 2 when the environment is wrong.
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { parseArgs } from '../lib/args.ts'
import { clusterRunsContainers, serverVersion } from '../lib/kube.ts'
import { countMutations, suitePassed, type SuiteReport } from '../lib/mutations/report.ts'
import { runMutationSuite } from '../lib/mutations/suite.ts'
import { createPrinter } from '../lib/output.ts'
import { readManifests } from '../lib/manifests.ts'
import { ensureCluster, ensureImages } from '../lib/runner.ts'
import { findStep, listSteps } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

/** With --step, the recorded file keeps the other steps' results and replaces this one's. */
async function record(file: string, report: SuiteReport): Promise<void> {
  let steps = report.steps
  if (existsSync(file)) {
    const previous = JSON.parse(await readFile(file, 'utf8')) as SuiteReport
    const fresh = new Set(steps.map((s) => s.step))
    steps = [...previous.steps.filter((s) => !fresh.has(s.step)), ...steps].sort((a, b) => a.step.localeCompare(b.step))
  }
  await writeFile(file, JSON.stringify({ ...report, steps }, null, 2) + '\n')
}

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['json', 'context', 'provider', 'cluster', 'step', 'record'])
  const printer = createPrinter(args.json)
  const steps = args.step ? [await findStep(args.step)] : await listSteps()
  const target = resolveTarget(args)
  const kube = await ensureCluster(target, printer.emit)
  const runsContainers = await clusterRunsContainers(kube)
  const objects = (await Promise.all(steps.map((step) => readManifests(step.dir)))).flat()
  await ensureImages(target, runsContainers, objects, printer.emit)
  const report: SuiteReport = {
    cluster: {
      context: target.context,
      ...(target.explicitContext ? {} : { provider: target.provider.name }),
      runsContainers,
      kubernetes: await serverVersion(kube),
    },
    steps: await runMutationSuite(kube, steps, { runsContainers, emit: printer.emit }),
  }

  if (args.record) await record(args.record, report)
  printer.emit({ kind: 'mutation-summary', ...countMutations(report.steps.flatMap((s) => s.mutations)) })
  printer.finish()
  return suitePassed(report.steps) ? 0 : 1
})
