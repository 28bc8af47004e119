/**
 * The value of a Go string constant declared in a source file, e.g. kind's default storage
 * manifest in pkg/build/nodeimage/const_storage.go. It handles what such declarations use: raw
 * (`...`) and interpreted ("...") literals joined with `+`, and other string constants of the
 * same sources by name. Anything else is an error naming the constant.
 */
export function goStringConstant(sources: readonly string[], name: string): string {
  const source = sources.find((text) => new RegExp(`^const ${name}\\s*=`, 'm').test(text))
  if (!source) throw new Error(`no Go constant named ${name}`)
  let rest = source.slice(source.search(new RegExp(`^const ${name}\\s*=`, 'm'))).replace(/^const \w+\s*=\s*/, '')
  let value = ''
  for (;;) {
    const raw = /^`([^`]*)`/.exec(rest)
    const interpreted = /^"((?:[^"\\\n]|\\.)*)"/.exec(rest)
    const identifier = /^([A-Za-z_]\w*)/.exec(rest)
    if (raw) value += raw[1]
    else if (interpreted) value += JSON.parse(`"${interpreted[1]}"`) as string
    else if (identifier) value += goStringConstant(sources, identifier[1]!)
    else throw new Error(`the Go constant ${name} is not a string the lab can read: ${rest.slice(0, 40)}`)
    rest = rest.slice((raw ?? interpreted ?? identifier)![0].length)
    const plus = /^\s*\+\s*/.exec(rest)
    if (!plus) return value
    rest = rest.slice(plus[0].length)
  }
}
