// npm run test:e2e [-- --cluster NAME] [--provider kind|nodes] [--json]: CI's end-to-end run. On a
// new kind cluster: every step applied and verified with nothing skipped, then the
// mutations that only running containers show (the kwok integration suite runs the others);
// then the cluster is removed, leaving nothing behind. A failed run keeps it for inspection.
import { parseArgs } from '../lib/args.ts'
import { connect } from '../lib/kube.ts'
import { countMutations, suitePassed } from '../lib/mutations/report.ts'
import { runMutationSuite } from '../lib/mutations/suite.ts'
import { createPrinter, summarize } from '../lib/output.ts'
import { verifyAll } from '../lib/runner.ts'
import { listSteps } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['json', 'cluster', 'provider'])
  const printer = createPrinter(args.json)
  const { emit } = printer
  const target = resolveTarget({ provider: args.provider ?? 'kind', cluster: args.cluster ?? 'serving-lab-e2e' })
  // A cluster left by an earlier run would hide what a new one gets wrong.
  await target.provider.delete(target.cluster, emit)

  const checks = summarize(await verifyAll(target, emit))
  emit({ kind: 'summary', ...checks })

  emit({ kind: 'phase', phase: 'mutations that need running containers' })
  const steps = await runMutationSuite(connect(target.context), await listSteps(), { runsContainers: true, needs: 'pods', emit })
  const mutations = countMutations(steps.flatMap((s) => s.mutations))
  emit({ kind: 'mutation-summary', ...mutations })

  const clean = checks.failed === 0 && checks.skipped === 0 && suitePassed(steps) && mutations.skipped === 0
  if (clean) {
    emit({ kind: 'phase', phase: `removing the ${target.provider.name} cluster '${target.cluster}'` })
    await target.provider.delete(target.cluster, emit)
  } else {
    emit({ kind: 'notice', level: 'warn', message: `real nodes must pass every check and catch every mutation: kept the cluster for inspection (kubectl --context ${target.context}; npm run cluster:down -- --provider ${target.provider.name} --cluster ${target.cluster})` })
  }
  printer.finish()
  return clean ? 0 : 1
})
