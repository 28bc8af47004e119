import { describe, expect, it } from 'vitest'
import { goStringConstant } from '../../scripts/lib/build/go-constants.ts'

const images = 'package x\n\nconst helperImage = "docker.io/kindest/helper:v1"\n'
const manifest = 'package x\n\nconst manifest = `\nimage: ` + helperImage + `\nargs: ["a\\n"]\n`\n\nvar other = 1\n'

describe('goStringConstant', () => {
  it('joins raw literals with a constant from another file', () => {
    expect(goStringConstant([manifest, images], 'manifest')).toBe(
      '\nimage: docker.io/kindest/helper:v1\nargs: ["a\\n"]\n',
    )
  })

  it('reads interpreted literals with their escapes', () => {
    expect(goStringConstant(['const tab = "a\\tb" + "c"\n'], 'tab')).toBe('a\tbc')
  })

  it('names the constant it cannot find or read', () => {
    expect(() => goStringConstant([images], 'missing')).toThrow(/no Go constant named missing/)
    expect(() => goStringConstant(['const n = 1 + 2\n'], 'n')).toThrow(/constant n is not a string/)
  })
})
