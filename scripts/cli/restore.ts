// npm run restore -- --from FILE [--namespace NEW] [--force] [--context NAME | --provider P --cluster C]:
// applies a backup written by npm run backup (server-side apply), waits for the rollout and
// prints how long that took.
import { readFile } from 'node:fs/promises'
import { parseArgs } from '../lib/args.ts'
import { parseBackup } from '../lib/backup.ts'
import { EnvironmentError } from '../lib/errors.ts'
import { connect } from '../lib/kube.ts'
import { createPrinter } from '../lib/output.ts'
import { restore } from '../lib/restore.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['from', 'namespace', 'force', 'context', 'provider', 'cluster'])
  if (!args.from)
    throw new EnvironmentError('--from FILE is required: the backup to restore (npm run backup writes one)')
  const { emit } = createPrinter(false)
  const text = await readFile(args.from, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new EnvironmentError(`cannot read ${args.from}: ${error.code ?? error.message}`)
  })
  const backup = parseBackup(text, args.from)
  const kube = connect(resolveTarget(args).context)
  const { header } = backup
  emit({
    kind: 'phase',
    phase: `restoring step ${header.step}`,
    detail: `${backup.objects.length} objects of ${header.namespace}, taken from ${header.context} at ${header.takenAt}`,
  })
  const result = await restore(kube, backup, { namespace: args.namespace, force: args.force, emit })
  const seconds = (result.durationMs / 1000).toFixed(1)
  if (result.pending.length > 0) {
    emit({ kind: 'notice', level: 'warn', message: `not rolled out after ${seconds} s: ${result.pending.join(', ')}` })
    return 1
  }
  emit({
    kind: 'notice',
    level: 'info',
    message: `restored ${result.applied} objects into ${result.namespace}: rolled out ${seconds} s after the restore began`,
  })
  return 0
})
