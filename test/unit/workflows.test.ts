// The GitHub workflows, checked with GitHub's own workflow parser (@actions/workflow-parser, the
// schema and expression checks behind GitHub's Actions language service), and against what the
// project runs: the commands of .ci/run, the scripts of package.json, the e2e run's cluster.
import { readdirSync } from 'node:fs'
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { KIND_VERSION } from '../../scripts/lib/cluster/kind/config.ts'
import { ciRunCommands, npmCommands, packageScripts, readText, root, supportedNodeMajors } from './ci-commands.ts'

interface Step {
  uses?: string
  run?: string
  if?: string
  with?: Record<string, unknown>
  env?: Record<string, string>
}
interface Job {
  'runs-on': string
  needs?: string
  permissions?: Record<string, string>
  environment?: { name: string }
  strategy?: { matrix: Record<string, unknown[]> }
  steps: Step[]
}
interface Workflow {
  permissions?: Record<string, string>
  jobs: Record<string, Job>
}

const files = readdirSync(`${root}/.github/workflows`).filter((name) => /\.ya?ml$/.test(name))
const workflow = (name: string) => parse(readText(`.github/workflows/${name}`)) as Workflow
const runs = (job: Job) => job.steps.map((step) => step.run ?? '').join('\n')
const uses = (job: Job, action: string) => job.steps.find((step) => step.uses?.startsWith(`${action}@`))

/** Every error GitHub's parser reports: schema, expressions, job graph. */
async function workflowErrors(name: string, content: string): Promise<string[]> {
  const result = parseWorkflow({ name, content }, new NoOperationTraceWriter())
  const errors = result.context.errors.getErrors().map((error) => error.message)
  if (errors.length > 0 || !result.value) return errors
  const template = await convertWorkflowTemplate(result.context, result.value)
  return (template.errors ?? []).map((error) => String((error as { Message?: string }).Message ?? error))
}

describe('GitHub workflows', () => {
  it('are ci.yml and docs.yml', () => {
    expect(files.sort()).toEqual(['ci.yml', 'docs.yml'])
  })

  it.each(files)("%s is valid for GitHub's workflow parser", async (name) => {
    expect(await workflowErrors(name, readText(`.github/workflows/${name}`))).toEqual([])
  })

  it('the parser does catch mistakes: a misspelt key, a bad permission, an unclosed expression, an unknown job', async () => {
    const ci = readText('.github/workflows/ci.yml')
    const docs = readText('.github/workflows/docs.yml')
    expect(await workflowErrors('a.yml', ci.replace('runs-on:', 'runs_on:'))).toContainEqual(
      expect.stringMatching(/runs_on/),
    )
    expect(await workflowErrors('b.yml', docs.replace('pages: write', 'pages: writ'))).toContainEqual(
      expect.stringMatching(/writ/),
    )
    expect(await workflowErrors('c.yml', docs.replace('base_path }}', 'base_path }'))).toContainEqual(
      expect.stringMatching(/not closed/),
    )
    expect(await workflowErrors('d.yml', docs.replace('needs: build', 'needs: built'))).toContainEqual(
      expect.stringMatching(/unknown job 'built'/),
    )
  })

  it('call only npm scripts that package.json has', () => {
    const scripts = packageScripts()
    for (const name of files) {
      for (const command of npmCommands(readText(`.github/workflows/${name}`))) {
        const script = /^npm run ([\w:.-]+)$/.exec(command)?.[1]
        if (script) expect(scripts, `${name}: ${command}`).toContain(script)
      }
    }
  })

  it('run every command .ci/run runs (npm ci, npm test, npm run test:e2e)', () => {
    const ciRun = ciRunCommands()
    expect(ciRun).toEqual(expect.arrayContaining(['npm ci', 'npm test', 'npm run test:e2e']))
    expect(npmCommands(readText('.github/workflows/ci.yml'))).toEqual(expect.arrayContaining(ciRun))
  })
})

describe('ci.yml', () => {
  const { jobs, permissions } = workflow('ci.yml')

  it('reads the repository and nothing more', () => {
    expect(permissions).toEqual({ contents: 'read' })
    for (const job of Object.values(jobs)) expect(job.permissions).toBeUndefined()
  })

  it('tests on every supported Node.js line', () => {
    expect(jobs.test!.strategy!.matrix.node).toEqual(supportedNodeMajors())
    expect(uses(jobs.test!, 'actions/setup-node')!.with!['node-version']).toBe('${{ matrix.node }}')
    expect(runs(jobs.test!)).toMatch(/^npm ci$/m)
    expect(runs(jobs.test!)).toMatch(/^npm test$/m)
    // npm test builds the kwok cluster's Kubernetes binaries with Go.
    expect(uses(jobs.test!, 'actions/setup-go')).toBeDefined()
  })

  it("keeps the docs site's screenshots as an artifact, from where the browser test wrote them", () => {
    const test = jobs.test!.steps.find((step) => step.run === 'npm test')!
    const folder = test.env!.SERVING_LAB_SCREENSHOTS
    expect(folder).toBeTruthy()
    const upload = uses(jobs.test!, 'actions/upload-artifact')!
    expect(upload.if).toBe('always()')
    expect(upload.with!.path).toBe(folder)
    // One artifact per Node.js line: two jobs cannot upload under one name.
    expect(String(upload.with!.name)).toContain('${{ matrix.node }}')
    expect(readText('scripts/lib/settings.ts')).toContain("env('SERVING_LAB_SCREENSHOTS')")
    expect(readText('.ci/run')).toMatch(/^export SERVING_LAB_SCREENSHOTS=/m)
  })

  it('runs every step on kind at the pinned version, keeping the JSON output', () => {
    const e2e = jobs.e2e!
    expect(runs(e2e)).toContain(`go install sigs.k8s.io/kind@${KIND_VERSION}`)
    expect(runs(e2e)).toMatch(/npm run --silent test:e2e -- --json \| tee e2e\.json/)
    const run = e2e.steps.find((step) => step.run?.includes('test:e2e'))!
    // Without pipefail, tee's exit code would hide a failed run: GitHub's `shell: bash` sets it.
    expect((run as { shell?: string }).shell).toBe('bash')
  })

  it("on failure, keeps kind's logs of the e2e cluster and the JSON output as an artifact", () => {
    const e2e = jobs.e2e!
    const cluster = /cluster: args\.cluster \?\? '([\w-]+)'/.exec(readText('scripts/cli/e2e.ts'))![1]
    const logs = e2e.steps.find((step) => step.run?.startsWith('kind export logs'))!
    expect(logs.if).toBe('failure()')
    expect(logs.run).toBe(`kind export logs --name ${cluster} kind-logs`)
    const upload = uses(e2e, 'actions/upload-artifact')!
    expect(upload.if).toBe('failure()')
    expect(String(upload.with!.path).split('\n').filter(Boolean)).toEqual(['e2e.json', 'kind-logs/'])
  })
})

describe('docs.yml', () => {
  const { jobs, permissions } = workflow('docs.yml')

  it('builds the VitePress site with the base path GitHub Pages gives, linking the repository it builds', () => {
    const build = jobs.build!
    const pages = uses(build, 'actions/configure-pages')! as Step & { id?: string }
    expect(pages.id).toBe('pages')
    const docsBuild = build.steps.find((step) => step.run === 'npm run docs:build')!
    expect(docsBuild.env).toEqual({
      DOCS_BASE: '${{ steps.pages.outputs.base_path }}/',
      DOCS_REPOSITORY_URL: '${{ github.server_url }}/${{ github.repository }}',
    })
    expect(readText('docs/.vitepress/config.mts')).toMatch(
      /const BASE = process.env.DOCS_BASE \?\? '\/'[\s\S]*base: BASE,/,
    )
    expect(readText('docs/.vitepress/config.mts')).toContain('process.env.DOCS_REPOSITORY_URL')
    // VitePress' default output folder: the config sets no outDir.
    expect(readText('docs/.vitepress/config.mts')).not.toMatch(/outDir/)
    expect(uses(build, 'actions/upload-pages-artifact')!.with).toEqual({ path: 'docs/.vitepress/dist' })
  })

  it('deploys with Pages rights given to the deploy job only', () => {
    expect(permissions).toEqual({ contents: 'read' })
    expect(jobs.build!.permissions).toBeUndefined()
    const deploy = jobs.deploy!
    expect(deploy.needs).toBe('build')
    expect(deploy.permissions).toEqual({ pages: 'write', 'id-token': 'write' })
    expect(deploy.environment!.name).toBe('github-pages')
    expect(uses(deploy, 'actions/deploy-pages')).toBeDefined()
  })
})
