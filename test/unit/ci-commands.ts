// What CI's files run, read from the files themselves: shared by the workflow and devcontainer
// tests so they compare against .ci/run the same way.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const readText = (path: string) => readFileSync(join(root, path), 'utf8')

/** The npm commands a script runs, reduced to what they do: `npm ci`, `npm test`, `npm run NAME`. */
export function npmCommands(text: string): string[] {
  const found = [...text.matchAll(/\bnpm (ci|test|run(?: --silent)? [\w:.-]+)/g)].map((m) =>
    m[1]!.replace(' --silent', ''),
  )
  return [...new Set(found.map((command) => `npm ${command}`))]
}

/** The scripts of package.json that `npm run NAME` can call. */
export function packageScripts(): string[] {
  return Object.keys((JSON.parse(readText('package.json')) as { scripts: Record<string, string> }).scripts)
}

/** The npm commands .ci/run runs (comments aside). */
export function ciRunCommands(): string[] {
  return npmCommands(
    readText('.ci/run')
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'))
      .join('\n'),
  )
}

/** Node.js lines the lab supports: the majors .ci/node.sh can install. */
export function supportedNodeMajors(): number[] {
  const releases = /NODE_RELEASES=\(([^)]*)\)/.exec(readText('.ci/node.sh'))![1]!
  return [...releases.matchAll(/\[(\d+)\]=\1\.\d+\.\d+/g)].map((m) => Number(m[1]))
}
