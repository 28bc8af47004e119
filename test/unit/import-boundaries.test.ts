// The import-boundary rule in eslint.config.js, run through ESLint's own API on imports written
// at real paths: an import that runs up a layer fails lint, one that points down does not.
import { join } from 'node:path'
import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../../scripts/lib/project.ts'

const eslint = new ESLint({ cwd: repoRoot })

/** The import-rule errors for `file` if it imported `from`; `type` writes an `import type`. */
async function importErrors(file: string, from: string, type = ''): Promise<string[]> {
  const code = `import ${type}{ x } from '${from}'\nexport const y: typeof x = x\n`
  const [result] = await eslint.lintText(code, { filePath: join(repoRoot, file) })
  return result!.messages.filter((m) => m.ruleId?.endsWith('no-restricted-imports')).map((m) => m.message)
}

describe('import boundaries', () => {
  it.each([
    ['scripts/lib/checks/standalone.ts', '../../cli/run.ts', 'below the CLI'],
    ['scripts/lib/image.ts', '../build-workloads.ts', 'below the entry scripts'],
    ['workloads/router/main.ts', '../../scripts/lib/kube.ts', 'free of scripts/'],
    ['scripts/lib/cluster/kind/provider.ts', '../kwok/provider.ts', 'one provider never imports another'],
    ['scripts/lib/cluster/kwok/provider.ts', '../kind/provider.ts', 'one provider never imports another'],
    ['scripts/lib/output.ts', './checks/run-checks.ts', 'types only'],
  ])('%s importing %s fails lint', async (file, from, words) => {
    const errors = await importErrors(file, from)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(words)
  })

  it.each([
    ['scripts/cli/run.ts', '../lib/errors.ts'],
    ['scripts/lib/cluster/kind/provider.ts', '../provider.ts'],
    ['scripts/lib/cluster/kind/provider.ts', './cli.ts'],
    ['workloads/router/main.ts', '../shared/server.ts'],
    ['scripts/lib/output.ts', './checks/check.ts', 'type '],
  ])('%s importing %s passes', async (file, from, type?: string) => {
    expect(await importErrors(file, from, type)).toEqual([])
  })
})
