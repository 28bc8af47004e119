// npm run cluster:up | cluster:down | cluster:status | cluster:logs | cluster:build [-- --provider kind|kwok] [--topology lab|large|FILE] [component]
import { parseArgs } from '../lib/args.ts'
import { createCluster } from '../lib/cluster/create.ts'
import { loadTopology } from '../lib/cluster/topology.ts'
import { EnvironmentError } from '../lib/errors.ts'
import { createPrinter } from '../lib/output.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

const ACTIONS = ['up', 'down', 'status', 'logs', 'build'] as const

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['provider', 'cluster', 'topology'])
  const [action, component] = args._
  if (!(ACTIONS as readonly string[]).includes(action ?? ''))
    throw new EnvironmentError(`usage: cluster.ts ${ACTIONS.join('|')} [--provider kind|kwok]`)
  const { provider, cluster, context, topology } = resolveTarget(args)
  const { emit } = createPrinter(false)

  switch (action) {
    case 'up': {
      await provider.checkTools(emit)
      if (await provider.exists(cluster)) {
        emit({
          kind: 'notice',
          level: 'info',
          message: `the ${provider.name} cluster '${cluster}' is already up (context ${context})`,
        })
        return 0
      }
      await createCluster(provider, cluster, await loadTopology(topology), emit)
      return 0
    }
    case 'down':
      await provider.checkTools(emit)
      emit({ kind: 'phase', phase: `deleting the ${provider.name} cluster '${cluster}'` })
      await provider.delete(cluster, emit)
      return 0
    case 'build': {
      await provider.checkTools(emit)
      const started = Date.now()
      emit({ kind: 'phase', phase: `building what a ${provider.name} cluster needs` })
      await provider.build(emit)
      emit({ kind: 'notice', level: 'info', message: `built in ${Math.round((Date.now() - started) / 1000)} s` })
      return 0
    }
    case 'status':
      await provider.checkTools(emit)
      for (const line of await provider.status(cluster)) console.log(line)
      return 0
    default:
      console.log((await provider.logs(cluster, component)).trimEnd())
      return 0
  }
})
