// npm run test:e2e [-- --cluster NAME] [--json]: CI's end-to-end run. A new cluster of real
// nodes (the nodes provider), every step applied and verified with nothing skipped, then the
// cluster removed, leaving nothing behind. A failed run keeps the cluster for inspection.
import { parseArgs } from '../lib/args.ts'
import { createPrinter, summarize } from '../lib/output.ts'
import { verifyAll } from '../lib/runner.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['json', 'cluster'])
  const printer = createPrinter(args.json)
  const target = resolveTarget({ provider: 'nodes', cluster: args.cluster ?? 'serving-lab-e2e' })
  // A cluster left by an earlier run would hide what a new one gets wrong.
  await target.provider.delete(target.cluster, printer.emit)
  const total = summarize(await verifyAll(target, printer.emit))
  printer.emit({ kind: 'summary', ...total })
  const clean = total.failed === 0 && total.skipped === 0
  if (clean) {
    printer.emit({ kind: 'phase', phase: `removing the nodes cluster '${target.cluster}'` })
    await target.provider.delete(target.cluster, printer.emit)
  } else {
    printer.emit({ kind: 'notice', level: 'warn', message: `real nodes must pass every check: kept the cluster for inspection (kubectl --context ${target.context}; npm run cluster:down -- --provider nodes --cluster ${target.cluster})` })
  }
  printer.finish()
  return clean ? 0 : 1
})
