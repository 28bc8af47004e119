import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// Layers point down: workloads ← scripts/lib ← scripts/cli (and steps, bench). `no-restricted-imports`
// sees an import as written, so each rule matches a path segment, whatever the number of `../`.
const forbid = (regex, message) => ({ regex, message })
const upward = {
  cli: forbid('(^|/)cli/', 'scripts/lib sits below the CLI: move what both need into scripts/lib.'),
  entry: forbid(
    '(^|/)(bench/|build-workloads\\.ts$)',
    'scripts/lib sits below the entry scripts: move what both need into scripts/lib.',
  ),
  scripts: forbid('(^|/)scripts/', 'a workload runs in a pod without the lab: keep it free of scripts/.'),
  kwok: forbid('(^|/)kwok/', 'one provider never imports another: move what both need into scripts/lib/cluster/.'),
  kind: forbid('(^|/)kind/', 'one provider never imports another: move what both need into scripts/lib/cluster/.'),
}
const restrict = (files, ...patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } })

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'docs/.vitepress/cache/', 'docs/.vitepress/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // A later block replaces an earlier one's options for the same rule, so each repeats the lib's.
  restrict(['scripts/lib/**', 'steps/**'], upward.cli, upward.entry),
  restrict(['scripts/lib/cluster/kind/**'], upward.cli, upward.entry, upward.kwok),
  restrict(['scripts/lib/cluster/kwok/**'], upward.cli, upward.entry, upward.kind),
  restrict(['workloads/**'], upward.scripts),
  {
    // The lab's variables are read in one place, scripts/lib/settings.ts, which documents each.
    files: ['**/*.ts'],
    ignores: ['scripts/lib/settings.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "MemberExpression[object.object.name='process'][object.property.name='env'][property.name=/^SERVING_LAB_/]",
          message: 'read SERVING_LAB_* variables through scripts/lib/settings.ts',
        },
      ],
    },
  },
  {
    // The printer renders check and mutation results, so it knows their shapes, never their code:
    // checks/ and mutations/ emit through it.
    files: ['scripts/lib/output.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(checks|mutations)/',
              allowTypeImports: true,
              message: 'output.ts may import types only from checks/ and mutations/.',
            },
          ],
        },
      ],
    },
  },
)
