// What changed from one step to the next, for its lesson: the previous step's manifests against
// this step's, file by file. Files are paired by name without their order prefix
// (`10-statefulset.yaml` in step 01 and `20-statefulset.yaml` in step 02 are the same file moved),
// and the previous step's namespace is read as this step's, since every step lives in its own and
// that one word would otherwise change on every object.
//
// The diff is git's (`git diff --no-index`): the docs are built from a clone, so git is there, and
// it is the diff a learner would run by hand.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, relative } from 'node:path'
import { CommandError } from '../errors.ts'
import { exec } from '../exec.ts'
import { manifestFiles } from '../manifests.ts'
import { repoRoot } from '../project.ts'
import { stepNamespace, type Step } from '../steps.ts'

export interface FileDiff {
  /** The file in the previous step and in this one, relative to the repository's root. */
  from: string
  to: string
  /** The unified diff's hunks (from the first `@@` on); empty when the files are the same. */
  diff: string
}

export interface StepDiff {
  /** The step compared against, e.g. "01". */
  previous: string
  /** The namespaces: the previous step's is read as this step's before comparing. */
  namespaces: { previous: string; current: string }
  changed: FileDiff[]
  unchanged: string[]
  /** Files of this step that the previous one lacks, and the other way round. */
  added: string[]
  removed: string[]
}

/** `20-statefulset.yaml` → `statefulset.yaml`: what pairs a file with its earlier self. */
export const pairingName = (file: string) => basename(file).replace(/^\d+-/, '')

const fromRoot = (path: string) => relative(repoRoot, path)

/** The unified diff of two texts (3 lines of context), from the first hunk on; '' when they are equal. */
export async function unifiedDiff(before: string, after: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lesson-diff-'))
  try {
    await writeFile(join(dir, 'a'), before)
    await writeFile(join(dir, 'b'), after)
    const args = ['diff', '--no-index', '--no-color', '--unified=3', 'a', 'b']
    let output: string
    try {
      output = await exec('git', args, { cwd: dir })
    } catch (error) {
      // git diff exits 1 when the files differ: that is the answer, not a failure.
      if (!(error instanceof CommandError) || error.exitCode !== 1) throw error
      output = error.output
    }
    const start = output.indexOf('\n@@')
    return start === -1 ? '' : output.slice(start + 1).trimEnd()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export async function stepDiff(previous: Step, current: Step): Promise<StepDiff> {
  const namespaces = { previous: await stepNamespace(previous), current: await stepNamespace(current) }
  const before = new Map((await manifestFiles(previous.dir)).map((file) => [pairingName(file), file]))
  const after = new Map((await manifestFiles(current.dir)).map((file) => [pairingName(file), file]))
  const result: StepDiff = { previous: previous.id, namespaces, changed: [], unchanged: [], added: [], removed: [] }
  for (const [name, file] of after) {
    const earlier = before.get(name)
    if (!earlier) {
      result.added.push(fromRoot(file))
      continue
    }
    const text = (await readFile(earlier, 'utf8')).replaceAll(namespaces.previous, namespaces.current)
    const diff = await unifiedDiff(text, await readFile(file, 'utf8'))
    if (diff) result.changed.push({ from: fromRoot(earlier), to: fromRoot(file), diff })
    else result.unchanged.push(fromRoot(file))
  }
  for (const [name, file] of before) if (!after.has(name)) result.removed.push(fromRoot(file))
  return result
}
