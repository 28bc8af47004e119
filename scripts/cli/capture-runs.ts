// npm run docs:capture [-- --provider kwok|kind] [--cluster NAME] [--step 03]
// Runs `npm run step NN -- --json` for every step (or one) and writes each passing run's report
// to docs/data/runs/NN.json, where its lesson shows it. A step with a failed check is not
// recorded: a lesson shows a run that passed.
import { mkdir, writeFile } from 'node:fs/promises'
import { parseArgs } from '../lib/args.ts'
import { EnvironmentError } from '../lib/errors.ts'
import { exec } from '../lib/exec.ts'
import { clusterRunsContainers, connect, serverVersion } from '../lib/kube.ts'
import { RUNS_DIR, runFile, type RecordedRun, type RunReport } from '../lib/lessons/recorded-run.ts'
import { createPrinter } from '../lib/output.ts'
import { repoRoot } from '../lib/project.ts'
import { findStep, listSteps } from '../lib/steps.ts'
import { resolveTarget } from '../lib/target.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const args = parseArgs(process.argv.slice(2), ['provider', 'cluster', 'step'])
  const target = resolveTarget(args)
  const { emit } = createPrinter(false)
  const steps = args.step ? [await findStep(args.step)] : await listSteps()
  const targetArgs = ['--provider', target.provider.name, '--cluster', target.cluster]
  await mkdir(RUNS_DIR, { recursive: true })
  for (const step of steps) {
    const command = ['npm run step', step.id, '--', '--json', ...targetArgs].join(' ')
    emit({ kind: 'phase', phase: `recording step ${step.id}`, detail: command })
    const stdout = await exec('npm', ['run', '--silent', 'step', '--', step.id, '--json', ...targetArgs], {
      cwd: repoRoot,
      // The runner's progress goes to stderr; stdout is the JSON report.
      onLine: (line) => /^\s*[▸…!]/.test(line) && emit({ kind: 'progress', message: line.trim() }),
    })
    const report = JSON.parse(stdout) as RunReport
    if (report.total.failed > 0) throw new EnvironmentError(`step ${step.id} failed a check: not recorded`)
    // Asked after the run: the runner creates the cluster when it is not up yet.
    const kube = connect(target.context)
    const run: RecordedRun = {
      step: step.id,
      command,
      provider: target.provider.name,
      context: target.context,
      kubernetes: await serverVersion(kube),
      runsContainers: await clusterRunsContainers(kube),
      at: new Date().toISOString(),
      report,
    }
    await writeFile(runFile(step.id), JSON.stringify(run, null, 2) + '\n')
    emit({ kind: 'notice', level: 'info', message: `wrote docs/data/runs/${step.id}.json` })
  }
  return 0
})
