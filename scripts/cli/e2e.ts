// npm run test:e2e [-- --cluster NAME] [--json]: CI's end-to-end run. On a
// new kind cluster: every step applied and verified with nothing skipped, the pod network's
// DNS and NetworkPolicy enforcement checked, then the mutations that only running containers show (the kwok integration suite runs the others);
// then the cluster is removed, leaving nothing behind. A failed run keeps it for inspection.
import { parseArgs } from '../lib/args.ts'
import { runChecks } from '../lib/checks/run-checks.ts'
import { NETWORK_CHECK_NAMESPACE, networkPolicyChecks, removeNetworkCheck } from '../lib/cluster/network-checks.ts'
import { connect } from '../lib/kube.ts'
import { countMutations, suitePassed } from '../lib/mutations/report.ts'
import { runMutationSuite } from '../lib/mutations/suite.ts'
import { createPrinter, summarize } from '../lib/output.ts'
import { verifyAll } from '../lib/runner.ts'
import { listSteps } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['json', 'cluster'])
  const printer = createPrinter(args.json)
  const { emit } = printer
  const target = resolveTarget({ provider: 'kind', cluster: args.cluster ?? 'serving-lab-e2e' })
  // A cluster left by an earlier run would hide what a new one gets wrong.
  await target.provider.delete(target.cluster, emit)

  const steps = await verifyAll(target, emit)

  // After the steps, so the workload image the checks' pods run is on the nodes.
  emit({ kind: 'phase', phase: 'the pod network: DNS and NetworkPolicy' })
  const kube = connect(target.context)
  const network = await runChecks(
    networkPolicyChecks,
    { kube, namespace: NETWORK_CHECK_NAMESPACE },
    { runsContainers: true, emit },
  )
  emit({ kind: 'summary', step: 'network', ...summarize(network) })
  await removeNetworkCheck(kube, emit)

  const checks = summarize([...[...steps.values()].flat(), ...network])
  emit({ kind: 'summary', ...checks })

  emit({ kind: 'phase', phase: 'mutations that need running containers' })
  const suite = await runMutationSuite(kube, await listSteps(), {
    runsContainers: true,
    needs: 'pods',
    baselines: steps,
    emit,
  })
  const mutations = countMutations(suite.flatMap((s) => s.mutations))
  emit({ kind: 'mutation-summary', ...mutations })

  const clean = checks.failed === 0 && checks.skipped === 0 && suitePassed(suite) && mutations.skipped === 0
  if (clean) {
    emit({ kind: 'phase', phase: `removing the ${target.provider.name} cluster '${target.cluster}'` })
    await target.provider.delete(target.cluster, emit)
  } else {
    emit({
      kind: 'notice',
      level: 'warn',
      message: `real nodes must pass every check and catch every mutation: kept the cluster for inspection (kubectl --context ${target.context}; npm run cluster:down -- --provider ${target.provider.name} --cluster ${target.cluster})`,
    })
  }
  printer.finish()
  return clean ? 0 : 1
})
