import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { hashImageInputs, imageContentTag, readImageInputs } from '../../scripts/lib/image.ts'

const bytes = (text: string) => new TextEncoder().encode(text)

describe('hashImageInputs', () => {
  const files = [
    { path: 'workloads/a.ts', bytes: bytes('a') },
    { path: 'package-lock.json', bytes: bytes('{}') },
  ]

  it('is 12 hex digits and does not depend on the order files are listed in', () => {
    const tag = hashImageInputs(files)
    expect(tag).toMatch(/^[0-9a-f]{12}$/)
    expect(hashImageInputs([...files].reverse())).toBe(tag)
  })

  it('changes with a file content, a file name, or content moving between files', () => {
    const tag = hashImageInputs(files)
    expect(hashImageInputs([{ path: 'workloads/a.ts', bytes: bytes('b') }, files[1]!])).not.toBe(tag)
    expect(hashImageInputs([{ path: 'workloads/b.ts', bytes: bytes('a') }, files[1]!])).not.toBe(tag)
    const split = [
      { path: 'x', bytes: bytes('ab') },
      { path: 'y', bytes: bytes('c') },
    ]
    const moved = [
      { path: 'x', bytes: bytes('a') },
      { path: 'y', bytes: bytes('bc') },
    ]
    expect(hashImageInputs(split)).not.toBe(hashImageInputs(moved))
  })
})

describe('imageContentTag', () => {
  let root: string
  const put = async (path: string, text: string) => {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), text)
  }

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'image-tag-'))
    await put('package.json', '{"version":"0.1.0"}')
    await put('package-lock.json', '{}')
    await put('tsconfig.json', '{}')
    await put('scripts/lib/build/workloads.ts', '// build')
    await put('workloads/Dockerfile', 'FROM node:20-bookworm-slim')
    await put('workloads/model-server/main.ts', 'console.log(1)')
    await put('docs/index.md', '# Lab')
  })
  afterEach(() => rm(root, { recursive: true, force: true }))

  it('reads the Dockerfile, the lock file and every workload file, and nothing from docs', async () => {
    const paths = (await readImageInputs(root)).map((file) => file.path).sort()
    expect(paths).toEqual([
      'package-lock.json',
      'package.json',
      'scripts/lib/build/workloads.ts',
      'tsconfig.json',
      'workloads/Dockerfile',
      'workloads/model-server/main.ts',
    ])
  })

  it('changes when a workload file changes', async () => {
    const before = await imageContentTag(root)
    await put('workloads/model-server/main.ts', 'console.log(2)')
    expect(await imageContentTag(root)).not.toBe(before)
  })

  it('changes when a workload file is added, the lock file or the Dockerfile changes', async () => {
    const before = await imageContentTag(root)
    await put('workloads/shared/server.ts', 'export {}')
    const added = await imageContentTag(root)
    expect(added).not.toBe(before)
    await put('package-lock.json', '{"lockfileVersion":3}')
    const locked = await imageContentTag(root)
    expect(locked).not.toBe(added)
    await put('workloads/Dockerfile', 'FROM node:22-bookworm-slim')
    expect(await imageContentTag(root)).not.toBe(locked)
  })

  it('stays the same when docs change', async () => {
    const before = await imageContentTag(root)
    await put('docs/index.md', '# Lab, revised')
    await put('docs/steps/01.md', 'new page')
    expect(await imageContentTag(root)).toBe(before)
  })
})
