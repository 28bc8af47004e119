// npm run verify:all [-- --provider kind|kwok] [--json] [--context NAME]: every step, in order, on one cluster.
import { parseArgs } from '../lib/args.ts'
import type { CheckResult } from '../lib/checks/check.ts'
import { createPrinter, summarize } from '../lib/output.ts'
import { runStep } from '../lib/runner.ts'
import { listSteps } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['json', 'context', 'provider', 'cluster'])
  const printer = createPrinter(args.json)
  const target = resolveTarget(args)
  const all: CheckResult[] = []
  for (const step of await listSteps()) {
    const results = await runStep(target, step, { apply: true, reset: true, emit: printer.emit })
    printer.emit({ kind: 'summary', step: step.id, ...summarize(results) })
    all.push(...results)
  }
  const total = summarize(all)
  printer.emit({ kind: 'summary', ...total })
  printer.finish()
  return total.failed > 0 ? 1 : 0
})
