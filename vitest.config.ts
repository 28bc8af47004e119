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
// others like it, one file at a time. The mutation suite, the longest of them, has a kwok cluster
// of its own and runs beside them (in the threads pool, after the process suites: vitest runs
// each pool's one-at-a-time projects one after another, and the pools side by side). The rest
// start their own processes on loopback ports and run one at a time beside the cluster suites,
// so a file's model servers don't compete with its neighbour's; the docs site's browser test
// runs after the unit tests, which balances the two lanes on 2 cores.
const INTEGRATION = 'test/integration'
const MUTATIONS = `${INTEGRATION}/mutations.test.ts`
const DOCS_SITE = `${INTEGRATION}/docs-site.test.ts`
const clusterTests = readdirSync(INTEGRATION)
  .filter((file) => file.endsWith('.test.ts'))
  .filter((file) => readFileSync(join(INTEGRATION, file), 'utf8').includes("inject('kubeContext')"))
  .map((file) => `${INTEGRATION}/${file}`)
const integrationTimeouts = { testTimeout: 120_000, hookTimeout: 300_000 }
const oneFileAtATime = { pool: 'forks', poolOptions: { forks: { singleFork: true } } } as const
const oneThreadAtATime = { pool: 'threads', poolOptions: { threads: { singleThread: true } } } as const
const kwokCluster = ['test/integration/kwok-cluster.setup.ts']

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [withoutSourceMaps('@actions/workflow-parser')],
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Beside the end to end on 2 cores (a load of 20 and more), importing a step's modules
          // or linting a file takes longer than vitest's default 5 s.
          testTimeout: 30_000,
          // GitHub's workflow parser imports its schema JSON without an import attribute, which
          // Node refuses; Vite's transform accepts it.
          server: { deps: { inline: ['@actions/workflow-parser'] } },
        },
      },
      {
        test: {
          name: 'integration',
          include: clusterTests.filter((file) => file !== MUTATIONS),
          globalSetup: kwokCluster,
          ...integrationTimeouts,
          ...oneFileAtATime,
        },
      },
      {
        test: {
          name: 'mutations',
          include: [MUTATIONS],
          globalSetup: kwokCluster,
          ...integrationTimeouts,
          ...oneThreadAtATime,
        },
      },
      {
        test: {
          name: 'processes',
          include: [`${INTEGRATION}/**/*.test.ts`],
          exclude: [...clusterTests, DOCS_SITE],
          ...integrationTimeouts,
          ...oneThreadAtATime,
        },
      },
      {
        test: {
          name: 'docs-site',
          include: [DOCS_SITE],
          ...integrationTimeouts,
        },
      },
    ],
  },
})
