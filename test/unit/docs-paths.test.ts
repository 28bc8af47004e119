// Every repository file or folder a docs page names must exist, so a page cannot send a learner
// to a folder that was renamed, removed or never written.
//
// What is checked, on every Markdown page under docs/ (outside .vitepress/):
// - a path in backticks that starts at a top-level folder of the repository (`steps/…`,
//   `workloads/…`, `scripts/…`, `docs/…`, `test/…`, `images/…`, `.github/…`, `.ci/…`,
//   `.devcontainer/…`);
// - a file imported with VitePress' `<<< @/../path`;
// - a relative or site link, `[text](./page)` or `[text](/steps/…)`: a page, or a file in docs/public.
//
// The rules:
// - A placeholder (`NN`, `*`, `…`, `${…}`, `<…>`) ends what can be checked: `steps/NN-name/` checks
//   `steps/`, and `steps/*/test-NN-*.ts` checks `steps/`.
// - A path that does not exist yet is allowed only on a line that says "planned" (a table row, a
//   list item, one line of a paragraph): that is how pages name the folders of steps 06–08.
// - A planned path that exists is an error too: the word "planned" must go once the folder lands.
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, posix, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../../scripts/lib/project.ts'

const docsDir = join(repoRoot, 'docs')
const ROOTS = [
  'steps',
  'workloads',
  'scripts',
  'docs',
  'test',
  'images',
  'observability',
  '.github',
  '.ci',
  '.devcontainer',
]
const ROOTED = new RegExp(`^(?:\\./)?((?:${ROOTS.map((r) => r.replace('.', '\\.')).join('|')})(?:/[^\\s\`]*)?)$`)
const PLACEHOLDER = /NN|\*|…|\$\{|<|\{/

export interface NamedPath {
  line: number
  /** As written on the page. */
  text: string
  /** The repository path to look for, relative to the repository's root. */
  path: string
  planned: boolean
}

/** What can be checked of a path: the part before its first segment with a placeholder. */
export function checkablePart(path: string): string {
  const segments = path.split('/')
  const first = segments.findIndex((segment) => PLACEHOLDER.test(segment))
  return first === -1 ? path : segments.slice(0, first).join('/') + '/'
}

/** The repository paths a page names; `page` is its path under docs/, such as `steps/01-basic-statefulset.md`. */
export function namedPaths(markdown: string, page: string): NamedPath[] {
  const found: NamedPath[] = []
  markdown.split('\n').forEach((text, index) => {
    const planned = /\bplanned\b/i.test(text)
    const add = (written: string, path: string) =>
      found.push({ line: index + 1, text: written, path: checkablePart(path), planned })
    for (const [, span] of text.matchAll(/`([^`]+)`/g)) {
      const rooted = ROOTED.exec(span!.trim())
      if (rooted) add(span!, rooted[1]!)
    }
    for (const [, imported] of text.matchAll(/^<<<\s*@\/(\S+)/g)) {
      add(imported!, posix.normalize(posix.join('docs', imported!)).replace(/\{.*$/, ''))
    }
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:|^#/.test(target!)) continue
      const link = target!.replace(/[#?].*$/, '')
      if (!link) continue
      const fromDocs = link.startsWith('/') ? link.slice(1) : posix.join(posix.dirname(page), link)
      add(target!, posix.join('docs', posix.normalize(fromDocs)))
    }
  })
  return found
}

/** A link to a page names `page.md` or `page/index.md`; a link to a picture names a file in docs/public. */
function exists(path: string): boolean {
  const candidates = [path]
  if (path.startsWith('docs/')) {
    const inDocs = path.slice('docs/'.length).replace(/\/$/, '')
    candidates.push(
      `docs/${inDocs}.md`,
      `docs/${inDocs}/index.md`,
      `docs/public/${inDocs}`,
      inDocs === '' ? 'docs/index.md' : '',
    )
  }
  return candidates.some((candidate) => candidate !== '' && existsSync(join(repoRoot, candidate)))
}

/** What is wrong with the paths a page names: one line each, empty when nothing is. */
export function pathProblems(paths: readonly NamedPath[], page: string, pathExists = exists): string[] {
  const problems: string[] = []
  for (const named of paths) {
    const present = pathExists(named.path)
    if (!present && !named.planned)
      problems.push(`docs/${page}:${named.line} names ${named.text}, which does not exist (${named.path})`)
    if (present && named.planned)
      problems.push(`docs/${page}:${named.line} calls ${named.text} planned, but it exists: drop "planned"`)
  }
  return problems
}

async function pages(dir = docsDir): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== 'public')
      found.push(...(await pages(path)))
    else if (entry.isFile() && entry.name.endsWith('.md')) found.push(relative(docsDir, path))
  }
  return found
}

describe('paths named in the docs', () => {
  it('finds backticked paths, imports and links, and cuts placeholders off', () => {
    const markdown = [
      'Each step lives in `steps/NN-name/`, see `scripts/lib/checks/` and `npm run step`.',
      '<<< @/../steps/01-basic-statefulset/20-statefulset.yaml{3}',
      'Read [the mutation suite](../mutations) and [step 02](./02-headless-service#run-it).',
      '| `workloads/frontend/` | planned: step 06 adds it |',
    ].join('\n')
    expect(namedPaths(markdown, 'steps/01-basic-statefulset.md')).toEqual([
      { line: 1, text: 'steps/NN-name/', path: 'steps/', planned: false },
      { line: 1, text: 'scripts/lib/checks/', path: 'scripts/lib/checks/', planned: false },
      {
        line: 2,
        text: '../steps/01-basic-statefulset/20-statefulset.yaml{3}',
        path: 'steps/01-basic-statefulset/20-statefulset.yaml',
        planned: false,
      },
      { line: 3, text: '../mutations', path: 'docs/mutations', planned: false },
      { line: 3, text: './02-headless-service#run-it', path: 'docs/steps/02-headless-service', planned: false },
      { line: 4, text: 'workloads/frontend/', path: 'workloads/frontend/', planned: true },
    ])
  })

  it('reports a missing path unless its line says planned, and a planned path that exists', () => {
    const paths = namedPaths(
      ['See `workloads/queue/`.', '`workloads/scheduler/` is planned.', '`workloads/router/` (planned)'].join('\n'),
      'architecture.md',
    )
    const problems = pathProblems(paths, 'architecture.md', (path) => path === 'workloads/router/')
    expect(problems).toEqual([
      'docs/architecture.md:1 names workloads/queue/, which does not exist (workloads/queue/)',
      'docs/architecture.md:3 calls workloads/router/ planned, but it exists: drop "planned"',
    ])
  })

  it('every page names only paths that exist, or planned ones on a line that says so', async () => {
    const problems: string[] = []
    const all = await pages()
    expect(all).toContain(join('steps', '01-basic-statefulset.md'))
    for (const page of all) {
      const markdown = await readFile(join(docsDir, page), 'utf8')
      problems.push(...pathProblems(namedPaths(markdown, page.split('\\').join('/')), page))
    }
    expect(problems).toEqual([])
  })

  it('knows the repository folders it checks against', () => {
    for (const root of ROOTS) expect(existsSync(join(repoRoot, root)), root).toBe(true)
    expect(dirname(docsDir)).toBe(repoRoot)
  })
})
