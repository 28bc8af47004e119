import { describe, expect, it } from 'vitest'
import { escapeBeyondLatin1 } from '../../scripts/lib/build/workloads.ts'

describe('escapeBeyondLatin1', () => {
  it('leaves only Latin-1 characters, escaping the others as \\u sequences', () => {
    const source = '// split around the bits 64–71, “quoted” 🚀\nconst s = "café"\n'
    const escaped = escapeBeyondLatin1(source)
    expect([...escaped].every((c) => c.charCodeAt(0) <= 0xff)).toBe(true)
    expect(escaped).toBe(
      '// split around the bits 64\\u201371, \\u201cquoted\\u201d \\ud83d\\ude80\nconst s = "café"\n',
    )
  })

  it('keeps what code means where an escape sits in a string', () => {
    const source = 'export default "64–71 🚀"'
    const escaped = escapeBeyondLatin1(source)
    expect(new Function(escaped.replace('export default', 'return'))()).toBe('64–71 🚀')
  })
})
