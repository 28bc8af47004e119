import { readdirSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { defineConfig, type Plugin } from 'vitest/config'

// The workflow parser's files name source maps it does not ship; read without them, Vite has
// nothing to warn about.
const withoutSourceMaps = (packageName: string): Plugin => ({
  name: 'without-source-maps',
  async load(id) {
    if (!id.includes(`/node_modules/${packageName}/`) || !id.endsWith('.js')) return null
    return (await readFile(id, 'utf8')).replace(/^\/\/# sourceMappingURL=.*$/m, '')
  },
})

// An integration test that asks for the kwok cluster's context shares the one cluster with the
// others like it, one file at a time. The rest start their own processes on loopback ports and
// run one at a time beside them, so a file's model servers don't compete with its neighbour's.
const INTEGRATION = 'test/integration'
const clusterTests = readdirSync(INTEGRATION)
  .filter((file) => file.endsWith('.test.ts'))
  .filter((file) => readFileSync(join(INTEGRATION, file), 'utf8').includes("inject('kubeContext')"))
  .map((file) => `${INTEGRATION}/${file}`)
const integrationTimeouts = { testTimeout: 120_000, hookTimeout: 300_000 }
const oneFileAtATime = { pool: 'forks', poolOptions: { forks: { singleFork: true } } } as const

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [withoutSourceMaps('@actions/workflow-parser')],
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // GitHub's workflow parser imports its schema JSON without an import attribute, which
          // Node refuses; Vite's transform accepts it.
          server: { deps: { inline: ['@actions/workflow-parser'] } },
        },
      },
      {
        test: {
          name: 'integration',
          include: clusterTests,
          globalSetup: ['test/integration/kwok-cluster.setup.ts'],
          ...integrationTimeouts,
          ...oneFileAtATime,
        },
      },
      {
        test: {
          name: 'processes',
          include: [`${INTEGRATION}/**/*.test.ts`],
          exclude: clusterTests,
          ...integrationTimeouts,
          pool: 'threads',
          poolOptions: { threads: { singleThread: true } },
        },
      },
    ],
  },
})
