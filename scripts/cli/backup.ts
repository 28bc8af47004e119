// npm run backup -- --step NN [--out FILE] [--context NAME | --provider P --cluster C]: writes the
// step's namespace and the cluster-scoped objects its manifests declare to one YAML file (mode
// 0600: it holds the step's Secrets), default backups/<step>-<timestamp>.yaml.
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { parseArgs } from '../lib/args.ts'
import { formatBackup, takeBackup } from '../lib/backup.ts'
import { EnvironmentError } from '../lib/errors.ts'
import { connect } from '../lib/kube.ts'
import { createPrinter } from '../lib/output.ts'
import { repoRoot } from '../lib/project.ts'
import { findStep } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['step', 'out', 'context', 'provider', 'cluster'])
  if (!args.step) throw new EnvironmentError('--step NN is required: which step to back up')
  const { emit } = createPrinter(false)
  const step = await findStep(args.step)
  const kube = connect(resolveTarget(args).context)
  emit({ kind: 'phase', phase: `backing up step ${step.id}`, detail: `from ${kube.context}` })
  const backup = await takeBackup(kube, step)
  for (const message of backup.warnings) emit({ kind: 'notice', level: 'warn', message })
  for (const line of backup.skipped) emit({ kind: 'progress', message: `left out ${line}` })
  const stamp = backup.header.takenAt.replace(/[:.]/g, '-')
  const file = args.out ?? join(repoRoot, 'backups', `${step.id}-${stamp}.yaml`)
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, formatBackup(backup), { mode: 0o600 })
  // The mode above applies only to a new file; an existing one keeps its own.
  await chmod(file, 0o600)
  const secrets = backup.objects.filter((o) => o.kind === 'Secret').length
  emit({
    kind: 'notice',
    level: 'info',
    message: `wrote ${backup.objects.length} objects to ${relative(process.cwd(), file) || file}`,
  })
  emit({
    kind: 'notice',
    level: 'warn',
    message: `the file holds ${secrets} Secret(s) (mode 0600): keep it as private as the cluster's Secrets`,
  })
  return 0
})
