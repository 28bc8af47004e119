// mutations.yaml: the validation that names the file, the entry and the field; and every step's
// real list, which must name real checks and patch its manifests as they are today.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { MUTATIONS_FILE, parseMutations, readMutations } from '../../scripts/lib/mutations/mutations-file.ts'
import { applyPatches } from '../../scripts/lib/mutations/patch.ts'
import { loadChecks } from '../../scripts/lib/mutations/suite.ts'
import { listSteps } from '../../scripts/lib/steps.ts'

const SOURCE = 'steps/09-x/mutations/mutations.yaml'
const entry = (fields: string) => `- name: service-name-mismatch
  why: The serviceName names no Service.
  patch:
    - kind: StatefulSet
      name: llama
      ops:
        - { op: replace, path: /spec/serviceName, value: other }
${fields}`
const valid = entry('  fails: [service-name]\n  hint: [serviceName]\n')

describe('parseMutations', () => {
  it('reads a valid entry, defaults included', () => {
    expect(parseMutations(valid, SOURCE, ['service-name'])).toEqual([
      {
        name: 'service-name-mismatch',
        why: 'The serviceName names no Service.',
        patch: [
          { kind: 'StatefulSet', name: 'llama', ops: [{ op: 'replace', path: '/spec/serviceName', value: 'other' }] },
        ],
        expect: 'checks',
        fails: ['service-name'],
        mayAlsoFail: [],
        hint: ['serviceName'],
      },
    ])
  })

  it.each([
    ['a document that is no list', 'name: x', `${SOURCE}: the file must be a list of mutations`],
    [
      'a misspelt key',
      entry('  fail: [service-name]\n  hint: [x]\n'),
      `${SOURCE}: entry 1 'service-name-mismatch': unknown key fail`,
    ],
    ['no failing check', entry('  hint: [x]\n'), "entry 1 'service-name-mismatch': fails must name the check"],
    ['no hint words', entry('  fails: [service-name]\n'), 'hint must list the words'],
    [
      'an unknown check id',
      entry('  fails: [service-names]\n  hint: [x]\n'),
      "entry 1 'service-name-mismatch': no check has the id service-names (the step's checks: service-name)",
    ],
    [
      'a name that is not kebab-case',
      valid.replace('service-name-mismatch', 'Service name'),
      'name must be kebab-case',
    ],
    [
      'an unknown op',
      valid.replace('op: replace', 'op: move'),
      'patch[0] (StatefulSet/llama) ops[0]: op must be add, remove, replace or test',
    ],
    ['a path without its slash', valid.replace('path: /spec', 'path: spec'), 'path must be a JSON Pointer'],
    ['replace without a value', valid.replace(', value: other', ''), 'replace needs a value'],
    [
      'a refusal that names checks',
      entry('  expect: rejected\n  fails: [service-name]\n  hint: [x]\n'),
      'runs no checks',
    ],
    [
      'the same check in fails and mayAlsoFail',
      entry('  fails: [service-name]\n  mayAlsoFail: [service-name]\n  hint: [x]\n'),
      'cannot be in both',
    ],
  ])('refuses %s, naming the file and entry', (_what, text, message) => {
    expect(() => parseMutations(text, SOURCE, ['service-name'])).toThrow(message)
  })

  it('refuses a name used twice', () => {
    expect(() => parseMutations(valid + valid, SOURCE)).toThrow(
      `${SOURCE}: entry 2: the name 'service-name-mismatch' is used twice`,
    )
  })

  it('accepts delete: true and expect: rejected', () => {
    const text = `- name: no-service
  why: Without the Service there is nothing to resolve.
  patch:
    - { kind: Service, name: llama, delete: true }
  expect: rejected
  hint: [refused]
`
    expect(parseMutations(text, SOURCE)[0]).toMatchObject({
      expect: 'rejected',
      patch: [{ kind: 'Service', name: 'llama', delete: true }],
      fails: [],
    })
  })
})

describe("every step's mutations.yaml", async () => {
  const steps = (await listSteps()).filter((step) => ['01', '02', '03', '04', '05'].includes(step.id))

  it.each(steps.map((step) => [step.folder, step] as const))(
    'steps/%s lists at least five mistakes that name its checks and fit its manifests',
    async (_folder, step) => {
      expect(existsSync(join(step.dir, MUTATIONS_FILE))).toBe(true)
      const checks = await loadChecks(step)
      const mutations = await readMutations(
        step.dir,
        checks.map((c) => c.id),
      )
      expect(mutations.length).toBeGreaterThanOrEqual(5)
      const objects = await readManifests(step.dir)
      for (const mutation of mutations) expect(() => applyPatches(objects, mutation.patch), mutation.name).not.toThrow()
    },
  )

  it.each(steps.map((step) => [step.folder, step] as const))(
    'steps/%s: every check has a unique kebab-case id',
    async (_folder, step) => {
      const ids = (await loadChecks(step)).map((c) => c.id)
      expect(new Set(ids).size).toBe(ids.length)
      for (const id of ids) expect(id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/)
    },
  )
})
