// The few lines of Prometheus's text exposition format the workloads read from each other's
// `/metrics`: one sample a line, `name{label="value",…} value [timestamp]`. Comments, and
// anything else, are skipped; a reader that needs a histogram's buckets wants a real parser.

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/

/** The samples whose name `wanted` accepts, in order; lines that are not samples, or whose value is not a finite number, are left out. */
export function parseSamples(text: string, wanted: (name: string) => boolean): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const match = sampleLine.exec(line)
    if (!match) continue
    const [, name, labelText = '', rawValue] = match
    if (!wanted(name!)) continue
    const value = Number(rawValue)
    if (!Number.isFinite(value)) continue
    samples.push({ name: name!, labels: parseLabels(labelText), value })
  }
  return samples
}

/** `a="x",b="y \"quoted\""` as an object, with the format's escapes (`\\`, `\"`, `\n`) undone. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const match of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
  }
  return labels
}
