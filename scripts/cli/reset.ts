// npm run reset [-- --provider kind|kwok] [--context NAME]: removes every namespace the lab created,
// and what its steps create outside namespaces (PriorityClasses, ClusterRoles and their bindings).
import { parseArgs } from '../lib/args.ts'
import { connect } from '../lib/kube.ts'
import { deleteClusterScoped, deleteNamespaces, labNamespaces } from '../lib/namespaces.ts'
import { createPrinter } from '../lib/output.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['context', 'provider', 'cluster'])
  const { emit } = createPrinter(false)
  const kube = connect(resolveTarget(args).context)
  const clusterScoped = await deleteClusterScoped(kube)
  if (clusterScoped.length > 0) emit({ kind: 'notice', level: 'info', message: `removed ${clusterScoped.join(', ')}` })
  const namespaces = await labNamespaces(kube)
  if (namespaces.length === 0) {
    emit({ kind: 'notice', level: 'info', message: 'nothing to remove: no namespace of the lab exists' })
    return 0
  }
  emit({ kind: 'phase', phase: 'removing what the lab created', detail: namespaces.join(', ') })
  await deleteNamespaces(kube, namespaces, emit)
  emit({ kind: 'notice', level: 'info', message: 'done. The cluster itself stays: npm run cluster:down removes it.' })
  return 0
})
