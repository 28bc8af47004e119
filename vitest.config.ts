import { readFile } from 'node:fs/promises'
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
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/kwok-cluster.setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // One shared kwok cluster: suites run one file at a time so they don't race on it.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
})
