// The generated parts of the lessons, built from the real repository files: the diff against the
// previous step, the "when a check fails" table, the recorded run as the runner prints it, and
// the namespaces a lesson's cleanup deletes.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { readMutations } from '../../scripts/lib/mutations/mutations-file.ts'
import { fixFor, readablePath, stepObjects, valueAt } from '../../scripts/lib/lessons/failure-table.ts'
import { buildLesson, stepChecks, stepClusterScoped, stepNamespaces } from '../../scripts/lib/lessons/lesson.ts'
import { readRecordedRun, runText } from '../../scripts/lib/lessons/recorded-run.ts'
import { pairingName, stepDiff, unifiedDiff } from '../../scripts/lib/lessons/step-diff.ts'
import { repoRoot } from '../../scripts/lib/project.ts'
import { findStep, listSteps } from '../../scripts/lib/steps.ts'

const steps = await listSteps()

describe('the diff against the previous step', () => {
  it('is git diff of the two texts, from the first hunk on, and empty for equal texts', async () => {
    const diff = await unifiedDiff('a\nb\nc\n', 'a\nB\nc\n')
    expect(diff).toBe('@@ -1,3 +1,3 @@\n a\n-b\n+B\n c')
    await expect(unifiedDiff('same\n', 'same\n')).resolves.toBe('')
  })

  it('pairs files by name without their number', () => {
    expect(pairingName('steps/02-headless-service/20-statefulset.yaml')).toBe('statefulset.yaml')
  })

  it("shows step 02's StatefulSet as step 01's with serviceName added, the Service added and the Deployment gone", async () => {
    const diff = await stepDiff(await findStep('01'), await findStep('02'))
    expect(diff.added).toEqual(['steps/02-headless-service/10-service.yaml'])
    expect(diff.removed).toEqual(['steps/01-basic-statefulset/20-deployment.yaml'])
    expect(diff.unchanged).toEqual(['steps/02-headless-service/00-namespace.yaml'])
    const [statefulSet] = diff.changed
    expect(statefulSet?.from).toBe('steps/01-basic-statefulset/10-statefulset.yaml')
    const added = statefulSet!.diff.split('\n').filter((line) => line.startsWith('+') && !/^\+\s*#/.test(line))
    expect(added, 'the lines added, comments aside').toEqual(['+  serviceName: llama-3-70b'])
    expect(statefulSet!.diff, 'the namespace is read as this step’s').not.toContain('lab-01')
  })

  it('covers every step after the first, each file of a step exactly once', async () => {
    for (const [index, step] of steps.entries()) {
      if (index === 0) continue
      const diff = await stepDiff(steps[index - 1]!, step)
      const files = [...diff.changed.map((f) => f.to), ...diff.unchanged, ...diff.added].sort()
      const own = (await readdir(step.dir)).filter((name) => name.endsWith('.yaml'))
      expect(files).toEqual(own.map((name) => `steps/${step.folder}/${name}`))
    }
  })
})

describe('the "when a check fails" table', () => {
  it('reads a value and a path as YAML shows them', async () => {
    expect(readablePath('/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu')).toBe(
      'spec.template.spec.containers[0].resources.limits."nvidia.com/gpu"',
    )
    expect(valueAt({ a: [{ b: 1 }] }, '/a/0/b')).toBe(1)
    expect(valueAt({ a: [] }, '/a/0/b')).toBeUndefined()
  })

  it("gives a mutation's fix from the step's own manifest", async () => {
    const step = await findStep('02')
    const mutation = (await readMutations(step.dir)).find((m) => m.name === 'service-name-mismatch')!
    expect(fixFor(mutation, await stepObjects(step))).toEqual([
      'StatefulSet llama-3-70b (20-statefulset.yaml): spec.serviceName: "llama-3-70b"',
    ])
  })

  it.each(steps.map((step) => [step.id]))(
    'step %s: lists every check in order, every mistake once, with its recorded hint',
    async (id) => {
      const lesson = await buildLesson(id)
      const step = await findStep(id)
      const checks = await stepChecks(step, (path) => import(path))
      expect(lesson.failures.checks.map((c) => c.id)).toEqual(checks.map((c) => c.id))
      const listed = (await readMutations(step.dir)).map((m) => m.name).sort()
      const shown = [...lesson.failures.checks.flatMap((c) => c.mistakes), ...lesson.failures.refused]
      expect(shown.map((m) => m.name).sort()).toEqual(listed)
      for (const mistake of shown) {
        expect(mistake.fix.length, mistake.name).toBeGreaterThan(0)
        // The suite holds the recorded hint to these words: a row whose hint lacks them is stale.
        if (mistake.hint)
          for (const word of mistake.hintWords)
            expect(mistake.hint.toLowerCase(), mistake.name).toContain(word.toLowerCase())
      }
    },
  )
})

describe('the recorded runs', () => {
  it.each(steps.map((step) => [step.id]))('step %s: recorded, passing, with the step’s checks of today', async (id) => {
    const run = await readRecordedRun(id)
    expect(run, `docs/data/runs/${id}.json: record it with npm run docs:capture -- --step ${id}`).toBeDefined()
    const checks = await stepChecks(await findStep(id), (path) => import(path))
    expect(run!.report.checks.map((c) => [c.id, c.title])).toEqual(checks.map((c) => [c.id, c.title]))
    expect(run!.report.total.failed).toBe(0)
    // Where containers do not run, only the pods checks may be skipped.
    for (const check of run!.report.checks.filter((c) => c.status === 'skipped')) expect(check.needs).toBe('pods')
  })

  it('renders as the runner prints it: one line per check, then the summary', async () => {
    const run = (await readRecordedRun('02'))!
    const lines = runText(run).split('\n')
    expect(lines[0]).toBe('  ✔ the Service llama-3-70b has no cluster IP')
    expect(lines).toHaveLength(run.report.checks.length + 1)
    const { passed, failed, skipped } = run.report.total
    expect(lines.at(-1)).toBe(`step 02: ${passed} passed, ${failed} failed, ${skipped} skipped`)
    if (!run.runsContainers)
      expect(lines.some((line) => line.startsWith('  ○ ') && line.includes('(skipped: '))).toBe(true)
    expect(runText(run), 'no colour codes').not.toContain('\u001b')
  })
})

describe('the cleanup', () => {
  it('deletes every namespace a step creates, its optional folders included', async () => {
    await expect(stepNamespaces((await findStep('03')).dir)).resolves.toEqual(['lab-03', 'lab-03-lws'])
    await expect(stepNamespaces((await findStep('02')).dir)).resolves.toEqual(['lab-02'])
  })

  it.each(steps.map((step) => [step.folder]))(
    'steps/%s: creates nothing outside its namespaces but what its cleanup names',
    async (folder) => {
      const dirs = [join(repoRoot, 'steps', folder)]
      for (const entry of await readdir(dirs[0]!, { withFileTypes: true }))
        if (entry.isDirectory() && entry.name !== 'mutations') dirs.push(join(dirs[0]!, entry.name))
      // Any of the step's namespaces: step 07's variants/ are validated in the step's own.
      const namespaces = await stepNamespaces(dirs[0]!)
      for (const dir of dirs) {
        for (const object of await readManifests(dir)) {
          if (object.kind === 'Namespace') continue
          // Cluster-scoped objects (step 06's PriorityClasses and ClusterRoles) are listed by the lesson's cleanup.
          if (!object.metadata?.namespace) {
            expect(await stepClusterScoped(dir)).toContain(`${object.kind!.toLowerCase()} ${object.metadata!.name}`)
            expect(object.metadata?.labels?.['app.kubernetes.io/part-of'], 'npm run reset finds it by this label').toBe(
              'multi-node-serving-lab',
            )
            continue
          }
          expect(namespaces, `${object.kind}/${object.metadata?.name} in ${dir}`).toContain(object.metadata?.namespace)
        }
      }
    },
  )
})

describe('the lessons', () => {
  it.each(steps.map((step) => [step.folder]))(
    'docs/steps/%s.md uses its loader and shows every part',
    async (folder) => {
      const page = await readFile(join(repoRoot, 'docs', 'steps', `${folder}.md`), 'utf8')
      expect(page).toContain(`import { data } from './${folder}.data.ts'`)
      for (const part of ['<StepRun ', '<StepFailures ', '<StepBreakIt ', '<StepCleanup '])
        expect(page, part).toContain(part)
      if (folder !== steps[0]!.folder) expect(page).toContain('<StepDiff ')
      for (const heading of ['## Run it', '## When a check fails', '## Troubleshooting', '## Break it', '## Clean up'])
        expect(page, heading).toContain(`\n${heading}\n`)
      const loader = await readFile(join(repoRoot, 'docs', 'steps', `${folder}.data.ts`), 'utf8')
      expect(loader).toContain(`lessonLoader('${folder.slice(0, 2)}')`)
    },
  )
})
