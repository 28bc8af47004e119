// npm run verify:all [-- --provider kind|kwok] [--json] [--context NAME]: every step, in order, on one cluster.
import { parseArgs } from '../lib/args.ts'
import { createPrinter, summarize } from '../lib/output.ts'
import { verifyAll } from '../lib/runner.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['json', 'context', 'provider', 'cluster'])
  const printer = createPrinter(args.json)
  const total = summarize([...(await verifyAll(resolveTarget(args), printer.emit)).values()].flat())
  printer.emit({ kind: 'summary', ...total })
  printer.finish()
  return total.failed > 0 ? 1 : 0
})
