/**
 * Bundles every workload (`workloads/<name>/main.ts`) into one self-contained ES module,
 * `<outDir>/<name>.mjs`, which runs with plain `node` and no node_modules: the image ships
 * only these files (scripts/lib/image.ts makes them the Docker build's whole context).
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import { repoRoot } from '../project.ts'

const workloadsDir = join(repoRoot, 'workloads')
export const defaultOutDir = join(repoRoot, 'dist', 'workloads')

// fastify, pino and their dependencies are CommonJS and call `require`, which an ES module
// does not have; esbuild's bundle calls this one for Node's own modules.
const requireShim = [
  "import { createRequire as __labCreateRequire } from 'node:module';",
  'const require = __labCreateRequire(import.meta.url);',
].join('\n')

/** The workloads that have an entry point; `shared` is a library, not a program. */
export function workloadNames(): string[] {
  return readdirSync(workloadsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(workloadsDir, entry.name, 'main.ts')))
    .map((entry) => entry.name)
    .sort()
}

/** Builds every workload into `outDir`; returns the bundles' paths. */
export async function buildWorkloads(outDir: string = defaultOutDir): Promise<string[]> {
  const names = workloadNames()
  await bundleEntries(
    names.map((name) => ({ in: join(workloadsDir, name, 'main.ts'), out: name })),
    outDir,
  )
  return names.map((name) => join(outDir, `${name}.mjs`))
}

/** Bundles TypeScript entry points into `<outDir>/<out>.mjs`, each a self-contained ES module for plain `node`. */
export async function bundleEntries(entryPoints: { in: string; out: string }[], outDir: string): Promise<void> {
  const { outputFiles } = await build({
    entryPoints,
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    banner: { js: requireShim },
    logLevel: 'warning',
    write: false,
  })
  await mkdir(outDir, { recursive: true })
  await Promise.all(outputFiles.map((file) => writeFile(file.path, escapeBeyondLatin1(file.text))))
}

/**
 * The bundle with every character beyond Latin-1 written as a `\u` escape. esbuild already
 * escapes them in strings, templates and regular expressions; a few remain in the comments it
 * keeps from dependencies, and a single one makes V8 hold the module's whole source (megabytes)
 * as two bytes a character rather than one: about 6 MiB more resident in every workload.
 */
export function escapeBeyondLatin1(text: string): string {
  return text.replace(/[\u0100-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
