// A lesson's "when a check fails" table: for each of the step's checks, the mistakes of its
// mutations.yaml that this check is the first to catch, what each mistake breaks (its `why`), the
// hint a learner reads (recorded by the mutation suite in docs/data/mutations.json, else the words
// it must contain), and the fix: what the step's own manifest says where the mistake changed it.
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { Needs } from '../checks/check.ts'
import { pointerTokens } from '../json-patch.ts'
import { manifestFiles, parseManifests } from '../manifests.ts'
import type { Mutation } from '../mutations/mutations-file.ts'
import type { SuiteReport } from '../mutations/report.ts'
import type { Step } from '../steps.ts'

/** What the table needs of a check: the step's test script exports the rest. */
export interface CheckSummary {
  id: string
  title: string
  needs: Needs
}

export interface MistakeRow {
  /** The mutation's name; also its anchor on the mutation page (`mutationAnchor`). */
  name: string
  why: string
  /** The hint the recorded run printed, when there is one. */
  hint?: string
  /** The words that hint must contain: what the suite holds it to. */
  hintWords: string[]
  /** One line per object the mistake changed: what the step's manifest has there. */
  fix: string[]
  /** Other checks the mistake makes fail. */
  alsoFails: string[]
}

export interface CheckRow extends CheckSummary {
  /** The mistakes this check is the first to catch: its hint names their cause. */
  mistakes: MistakeRow[]
  /** Mistakes another check is first to catch that make this one fail too. */
  alsoCaught: string[]
}

export interface FailureTable {
  checks: CheckRow[]
  /** Mistakes the API server refuses at apply, before any check runs. */
  refused: MistakeRow[]
}

/** The id of a mutation's row on the mutation page (docs/mutations.md). */
export const mutationAnchor = (step: string, name: string) => `step-${step}-${name}`

/** A pointer as a learner reads it in YAML: /spec/containers/0/ports → spec.containers[0].ports. */
export function readablePath(pointer: string): string {
  return pointerTokens(pointer)
    .map((token, index) => {
      if (/^\d+$/.test(token)) return `[${token}]`
      const key = /^[\w-]+$/.test(token) ? token : `"${token}"`
      return index === 0 ? key : `.${key}`
    })
    .join('')
}

/** The value at a JSON Pointer, or undefined when some part of the path is missing. */
export function valueAt(document: unknown, pointer: string): unknown {
  let value = document
  for (const token of pointerTokens(pointer)) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<string, unknown>)[token]
  }
  return value
}

const MAX_VALUE = 80
const show = (value: unknown) => {
  const text = JSON.stringify(value)
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text
}

interface ManifestObject {
  file: string
  object: KubernetesObject
}

/** Every object of the step, with the file it comes from. */
export async function stepObjects(step: Step): Promise<ManifestObject[]> {
  const found: ManifestObject[] = []
  for (const path of await manifestFiles(step.dir)) {
    const file = basename(path)
    for (const object of parseManifests(await readFile(path, 'utf8'), path)) found.push({ file, object })
  }
  return found
}

/** How to undo a mutation, read from the step's own manifests: one line per object it changed. */
export function fixFor(mutation: Mutation, objects: readonly ManifestObject[]): string[] {
  return mutation.patch.map((patch) => {
    const found = objects.find((o) => o.object.kind === patch.kind && o.object.metadata?.name === patch.name)
    if (!found) throw new Error(`mutation ${mutation.name} changes ${patch.kind}/${patch.name}, which the step lacks`)
    const where = `${patch.kind} ${patch.name} (${found.file})`
    if ('delete' in patch) return `apply the ${where} again`
    const lines = patch.ops
      .filter((op) => op.op !== 'test')
      .map((op) => {
        const original = valueAt(found.object, op.path)
        const path = readablePath(op.path)
        return original === undefined ? `no ${path}` : `${path}: ${show(original)}`
      })
    return `${where}: ${[...new Set(lines)].join('; ')}`
  })
}

export function failureTable(
  step: string,
  checks: readonly CheckSummary[],
  mutations: readonly Mutation[],
  objects: readonly ManifestObject[],
  recorded: SuiteReport,
): FailureTable {
  const results = recorded.steps.find((s) => s.step === step)?.mutations ?? []
  const row = (mutation: Mutation): MistakeRow => {
    const hint = results.find((r) => r.name === mutation.name && r.status === 'caught')?.message
    return {
      name: mutation.name,
      why: mutation.why,
      ...(hint ? { hint } : {}),
      hintWords: mutation.hint,
      fix: fixFor(mutation, objects),
      alsoFails: mutation.fails.slice(1),
    }
  }
  for (const mutation of mutations) {
    const unknown = mutation.fails.filter((id) => !checks.some((c) => c.id === id))
    if (unknown.length > 0) throw new Error(`mutation ${mutation.name} names checks step ${step} lacks: ${unknown}`)
  }
  return {
    checks: checks.map(({ id, title, needs }) => ({
      id,
      title,
      needs,
      mistakes: mutations.filter((m) => m.expect === 'checks' && m.fails[0] === id).map(row),
      alsoCaught: mutations.filter((m) => m.fails.indexOf(id) > 0).map((m) => m.name),
    })),
    refused: mutations.filter((m) => m.expect === 'rejected').map(row),
  }
}
