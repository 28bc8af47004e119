// npm run step 03 [-- --no-apply] [--reset] [--json] [--context NAME] [--provider kind|kwok] [--topology lab|large|FILE]
import { parseArgs } from '../lib/args.ts'
import { EnvironmentError } from '../lib/errors.ts'
import { createPrinter, summarize } from '../lib/output.ts'
import { runStep } from '../lib/runner.ts'
import { stopStandIns } from '../lib/stand-ins.ts'
import { findStep } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), [
    'apply',
    'reset',
    'json',
    'context',
    'provider',
    'cluster',
    'topology',
  ])
  const [stepArgument] = args._
  if (!stepArgument) throw new EnvironmentError('which step? e.g. npm run step 01')
  const step = await findStep(stepArgument)
  const printer = createPrinter(args.json)
  const results = await runStep(resolveTarget(args), step, {
    apply: args.apply,
    reset: args.reset,
    emit: printer.emit,
  }).finally(
    // What the runner stood in for on kwok ends with it: step 07's APIService goes with its
    // adapter, as one left without a server blocks every namespace deletion in the cluster.
    stopStandIns,
  )
  const summary = summarize(results)
  printer.emit({ kind: 'summary', step: step.id, ...summary })
  printer.finish()
  return summary.failed > 0 ? 1 : 0
})
