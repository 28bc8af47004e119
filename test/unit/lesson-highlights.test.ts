// A lesson highlights the lines of a manifest that matter by their numbers
// (`<<< @/../steps/…/file.yaml{9,17 yaml}`), and names what those lines hold in a comment just
// above the import: `<!-- highlight: clusterIP: None, publishNotReadyAddresses: true -->`. Line
// numbers rot when a manifest changes; this test makes that loud: every highlighted line must
// hold one of the named texts outside its comment, and every named text must be on a highlighted line.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../../scripts/lib/project.ts'

export interface HighlightedImport {
  /** The line of the lesson with the import. */
  line: number
  /** The imported file, relative to the repository's root. */
  file: string
  lines: number[]
  /** What the lesson's comment says the highlighted lines hold; undefined without a comment. */
  holds?: string[]
}

const IMPORT = /^<<<\s*@\/\.\.\/(\S+?)\{([\d,-]+)\s*[^}]*\}/
const MARKER = /^<!--\s*highlight:\s*(.+?)\s*-->$/
/** How far above an import its comment may be: a `::: code-group` line may stand between. */
const MARKER_REACH = 2

/** `9,12-14` → [9, 12, 13, 14] */
export function lineNumbers(spec: string): number[] {
  return spec.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number) as [number, number?]
    return Array.from({ length: to! - from + 1 }, (_, i) => from + i)
  })
}

export function highlightedImports(markdown: string): HighlightedImport[] {
  const lines = markdown.split('\n')
  const found: HighlightedImport[] = []
  lines.forEach((text, index) => {
    const match = IMPORT.exec(text.trim())
    if (!match) return
    const comment = lines
      .slice(Math.max(0, index - MARKER_REACH), index)
      .map((line) => MARKER.exec(line.trim()))
      .find(Boolean)
    found.push({
      line: index + 1,
      file: match[1]!,
      lines: lineNumbers(match[2]!),
      ...(comment ? { holds: comment[1]!.split(',').map((s) => s.trim()) } : {}),
    })
  })
  return found
}

/** A YAML line without its comment: a named text in a comment does not count. */
const codeOf = (line: string) => (line.trimStart().startsWith('#') ? '' : line.split(' #')[0]!)

/** What is wrong with one import's highlight: empty when the lines hold what the lesson says. */
export function highlightProblems(entry: HighlightedImport, fileText: string): string[] {
  if (!entry.holds) return [`no <!-- highlight: … --> comment says what lines ${entry.lines.join(',')} hold`]
  const fileLines = fileText.split('\n')
  const problems: string[] = []
  for (const number of entry.lines) {
    const code = codeOf(fileLines[number - 1] ?? '')
    if (!entry.holds.some((text) => code.includes(text)))
      problems.push(
        `line ${number} (${code.trim() || 'a comment or nothing'}) holds none of: ${entry.holds.join(', ')}`,
      )
  }
  for (const text of entry.holds) {
    if (!entry.lines.some((number) => codeOf(fileLines[number - 1] ?? '').includes(text)))
      problems.push(`no highlighted line holds ${text}`)
  }
  return problems
}

describe('the rule', () => {
  const yaml = 'kind: Service\nspec:\n  # clusterIP: None makes it headless\n  clusterIP: None\n'
  const entry = (lines: number[], holds?: string[]) => ({ line: 1, file: 'f.yaml', lines, ...(holds ? { holds } : {}) })

  it('reads an import, its line numbers and the comment above it', () => {
    const markdown =
      '<!-- highlight: clusterIP: None -->\n::: code-group\n<<< @/../steps/x/f.yaml{4,6-7 yaml} [f.yaml]\n:::'
    expect(highlightedImports(markdown)).toEqual([
      { line: 3, file: 'steps/x/f.yaml', lines: [4, 6, 7], holds: ['clusterIP: None'] },
    ])
  })

  it('passes lines that hold what the lesson says', () => {
    expect(highlightProblems(entry([4], ['clusterIP: None']), yaml)).toEqual([])
  })

  it('fails a highlight that moved off its line, even onto a comment naming it', () => {
    expect(highlightProblems(entry([3], ['clusterIP: None']), yaml)).toHaveLength(2)
  })

  it('fails a highlight with no comment saying what it holds', () => {
    expect(highlightProblems(entry([4]), yaml)).toHaveLength(1)
  })
})

const lessonsDir = join(repoRoot, 'docs', 'steps')
const lessons = (await readdir(lessonsDir)).filter((name) => name.endsWith('.md'))

describe.each(lessons)('docs/steps/%s', (lesson) => {
  it('highlights lines that hold what the lesson says they hold', async () => {
    const problems: string[] = []
    for (const entry of highlightedImports(await readFile(join(lessonsDir, lesson), 'utf8'))) {
      const text = await readFile(join(repoRoot, entry.file), 'utf8')
      for (const problem of highlightProblems(entry, text))
        problems.push(`line ${entry.line}, ${entry.file}: ${problem}`)
    }
    expect(problems).toEqual([])
  })
})
