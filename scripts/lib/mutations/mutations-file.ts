// A step's mutations.yaml: the learner mistakes its checks must catch. Read and validated here,
// with errors that name the file, the entry and the field, so a slip in the list is found before
// any cluster is touched.
import { readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { parse } from 'yaml'
import type { Needs } from '../checks/check.ts'
import { repoRoot } from '../project.ts'
import type { PatchOperation } from '../json-patch.ts'
import type { ObjectPatch } from './patch.ts'

/**
 * Where a step keeps its mutations: in a folder of its own, not beside the manifests, because
 * `kubectl apply -f steps/NN-name/` applies every YAML file of the folder (not its subfolders)
 * and a list of mistakes is no manifest.
 */
export const MUTATIONS_FILE = 'mutations/mutations.yaml'

/**
 * One mistake. With `expect: checks` (the default), applying it must make every check in `fails`
 * fail (where it can run), the hint of the first one must contain every word of `hint`, and every
 * check not named in `fails` or `mayAlsoFail` must keep the verdict it has on the unmutated step.
 * With `expect: rejected`, the API server must refuse it at apply, with every word of `hint` in
 * its error.
 */
export interface Mutation {
  name: string
  /** One sentence a learner recognises: what was done wrong, and what it breaks. */
  why: string
  patch: ObjectPatch[]
  expect: 'checks' | 'rejected'
  /** Check ids; the first is the one whose hint must name the cause. Empty with `expect: rejected`. */
  fails: string[]
  /** Checks that fail as a knock-on effect where containers run; their verdicts are not judged (nor run, after the last judged check). */
  mayAlsoFail: string[]
  /** Words the first failing check's hint (or the API server's refusal) must contain, case-insensitive. */
  hint: string[]
  /** What the mistake needs to show: set `pods` when it shows only where containers really run. */
  needs?: Needs
}

export class MutationsFileError extends Error {
  override name = 'MutationsFileError'
}

const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*$/
const ENTRY_KEYS = ['name', 'why', 'patch', 'expect', 'fails', 'mayAlsoFail', 'hint', 'needs']
const PATCH_KEYS = ['kind', 'name', 'ops', 'delete']

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const isWordList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((word) => typeof word === 'string' && word.trim() !== '')

function unknownKeys(value: Record<string, unknown>, allowed: readonly string[]): string[] {
  return Object.keys(value).filter((key) => !allowed.includes(key))
}

function parseOperation(value: unknown, where: string): PatchOperation {
  if (!isRecord(value)) throw new MutationsFileError(`${where}: an operation is a map with op and path`)
  const extra = unknownKeys(value, ['op', 'path', 'value'])
  if (extra.length > 0)
    throw new MutationsFileError(`${where}: unknown key ${extra.join(', ')} (an operation has op, path and value)`)
  const { op, path } = value
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new MutationsFileError(
      `${where}: path must be a JSON Pointer starting with '/' (a '/' inside a key is written ~1)`,
    )
  if (op === 'remove') {
    if ('value' in value) throw new MutationsFileError(`${where}: remove takes no value`)
    return { op, path }
  }
  if (op === 'add' || op === 'replace' || op === 'test') {
    if (!('value' in value)) throw new MutationsFileError(`${where}: ${op} needs a value`)
    return { op, path, value: value.value }
  }
  throw new MutationsFileError(`${where}: op must be add, remove, replace or test (got ${JSON.stringify(op)})`)
}

function parsePatch(value: unknown, where: string): ObjectPatch {
  if (!isRecord(value))
    throw new MutationsFileError(`${where}: each patch entry names an object (kind, name) and has ops or delete: true`)
  const extra = unknownKeys(value, PATCH_KEYS)
  if (extra.length > 0)
    throw new MutationsFileError(
      `${where}: unknown key ${extra.join(', ')} (a patch entry has ${PATCH_KEYS.join(', ')})`,
    )
  const { kind, name } = value
  if (typeof kind !== 'string' || typeof name !== 'string' || !kind || !name)
    throw new MutationsFileError(`${where}: kind and name must name an object of the step`)
  const target = `${where} (${kind}/${name})`
  if ('delete' in value) {
    if (value.delete !== true || 'ops' in value)
      throw new MutationsFileError(`${target}: either delete: true or ops, not both`)
    if (kind === 'Namespace')
      throw new MutationsFileError(
        `${target}: the step's Namespace cannot be deleted: every run starts by recreating it`,
      )
    return { kind, name, delete: true }
  }
  if (!Array.isArray(value.ops) || value.ops.length === 0)
    throw new MutationsFileError(`${target}: ops must be a non-empty list of JSON Patch operations`)
  return { kind, name, ops: value.ops.map((op, i) => parseOperation(op, `${target} ops[${i}]`)) }
}

function parseEntry(value: unknown, where: string): Mutation {
  if (!isRecord(value))
    throw new MutationsFileError(`${where}: each entry is a map with name, why, patch, fails and hint`)
  const named = typeof value.name === 'string' ? `${where} '${value.name}'` : where
  const extra = unknownKeys(value, ENTRY_KEYS)
  if (extra.length > 0)
    throw new MutationsFileError(`${named}: unknown key ${extra.join(', ')} (an entry has ${ENTRY_KEYS.join(', ')})`)
  const { name, why, patch, expect = 'checks', fails = [], mayAlsoFail = [], hint, needs } = value
  if (typeof name !== 'string' || !KEBAB.test(name))
    throw new MutationsFileError(`${named}: name must be kebab-case, like 'service-name-mismatch'`)
  if (typeof why !== 'string' || why.trim() === '')
    throw new MutationsFileError(`${named}: why must say, in one sentence, what the mistake is and what it breaks`)
  if (!Array.isArray(patch) || patch.length === 0)
    throw new MutationsFileError(`${named}: patch must be a non-empty list`)
  if (expect !== 'checks' && expect !== 'rejected')
    throw new MutationsFileError(`${named}: expect must be checks or rejected (got ${JSON.stringify(expect)})`)
  if (!isWordList(fails) || !fails.every((id) => KEBAB.test(id)))
    throw new MutationsFileError(`${named}: fails must be a list of check ids`)
  if (!isWordList(mayAlsoFail)) throw new MutationsFileError(`${named}: mayAlsoFail must be a list of check ids`)
  if (expect === 'checks' && fails.length === 0)
    throw new MutationsFileError(`${named}: fails must name the check that catches the mistake`)
  if (expect === 'rejected' && (fails.length > 0 || mayAlsoFail.length > 0))
    throw new MutationsFileError(
      `${named}: a mutation the API server rejects runs no checks: leave out fails and mayAlsoFail`,
    )
  const both = fails.filter((id) => mayAlsoFail.includes(id))
  if (both.length > 0)
    throw new MutationsFileError(`${named}: ${both.join(', ')} cannot be in both fails and mayAlsoFail`)
  if (!isWordList(hint) || hint.length === 0) {
    throw new MutationsFileError(
      `${named}: hint must list the words ${expect === 'rejected' ? "the API server's error" : "the failing check's hint"} must contain`,
    )
  }
  if (needs !== undefined && needs !== 'api' && needs !== 'pods')
    throw new MutationsFileError(`${named}: needs must be api or pods`)
  return {
    name,
    why: why.trim(),
    patch: patch.map((entry, i) => parsePatch(entry, `${named} patch[${i}]`)),
    expect,
    fails,
    mayAlsoFail,
    hint,
    ...(needs ? { needs } : {}),
  }
}

/** Parses a mutations.yaml; `source` names it in errors. Check ids are validated when `checkIds` is given. */
export function parseMutations(text: string, source: string, checkIds?: readonly string[]): Mutation[] {
  let document: unknown
  try {
    document = parse(text)
  } catch (error) {
    throw new MutationsFileError(`${source}: not valid YAML: ${(error as Error).message}`)
  }
  if (!Array.isArray(document)) throw new MutationsFileError(`${source}: the file must be a list of mutations`)
  const mutations = document.map((entry, i) => parseEntry(entry, `${source}: entry ${i + 1}`))
  const seen = new Set<string>()
  for (const [i, mutation] of mutations.entries()) {
    if (seen.has(mutation.name))
      throw new MutationsFileError(`${source}: entry ${i + 1}: the name '${mutation.name}' is used twice`)
    seen.add(mutation.name)
    if (!checkIds) continue
    const unknown = [...mutation.fails, ...mutation.mayAlsoFail].filter((id) => !checkIds.includes(id))
    if (unknown.length > 0) {
      throw new MutationsFileError(
        `${source}: entry ${i + 1} '${mutation.name}': no check has the id ${unknown.join(', ')} (the step's checks: ${checkIds.join(', ')})`,
      )
    }
  }
  return mutations
}

/** The mutations of a step folder, validated against its check ids when they are given. */
export async function readMutations(stepDir: string, checkIds?: readonly string[]): Promise<Mutation[]> {
  const file = join(stepDir, MUTATIONS_FILE)
  return parseMutations(await readFile(file, 'utf8'), relative(repoRoot, file), checkIds)
}
