// The devcontainer. No JSON Schema for devcontainer.json can be had offline (no npm package
// ships the spec's schema), so: a strict JSONC parse, a schema of the properties the lab uses
// that refuses any other, the Dev Containers CLI reading the same configuration, and the
// post-create script checked against the project.
import { execFileSync } from 'node:child_process'
import { accessSync, constants, cpSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser'
import { describe, expect, it } from 'vitest'
import { KIND_VERSION } from '../../scripts/lib/cluster/kind/config.ts'
import { ciRunCommands, npmCommands, packageScripts, readText, root, supportedNodeMajors } from './ci-commands.ts'

interface DevContainer {
  image: string
  features: Record<string, Record<string, string>>
  hostRequirements: { gpu: string | boolean }
  postCreateCommand: string
  forwardPorts: number[]
  portsAttributes: Record<string, { label: string }>
}

/** Parses JSONC as the Dev Containers spec allows it (comments), refusing anything else. */
function parseStrict(text: string): { value: unknown; errors: string[] } {
  const errors: ParseError[] = []
  const value: unknown = parseJsonc(text, errors, { allowTrailingComma: false, disallowComments: false })
  return { value, errors: errors.map((e) => `${printParseErrorCode(e.error)} at ${e.offset}`) }
}

// Property names and value types from the Dev Containers spec (containers.dev, devcontainer.json
// reference), limited to those the lab uses; any other name is refused, so a typo fails.
const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'image', 'features', 'postCreateCommand', 'forwardPorts'],
  properties: {
    name: { type: 'string' },
    image: { type: 'string', pattern: '^[a-z0-9./-]+:[\\w.-]+$' },
    features: {
      type: 'object',
      propertyNames: { pattern: '^ghcr\\.io/devcontainers/features/[a-z-]+:\\d+$' },
      additionalProperties: { type: 'object', additionalProperties: { type: ['string', 'boolean'] } },
    },
    hostRequirements: {
      type: 'object',
      additionalProperties: false,
      properties: {
        gpu: { enum: [true, false, 'optional'] },
        cpus: { type: 'integer' },
        memory: { type: 'string' },
        storage: { type: 'string' },
      },
    },
    postCreateCommand: { type: ['string', 'array'] },
    forwardPorts: { type: 'array', items: { type: ['integer', 'string'] } },
    portsAttributes: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          label: { type: 'string' },
          onAutoForward: { enum: ['notify', 'openBrowser', 'openBrowserOnce', 'openPreview', 'silent', 'ignore'] },
        },
      },
    },
    customizations: { type: 'object' },
  },
}
const validate = new Ajv({ allErrors: true }).compile(schema)

const text = readText('.devcontainer/devcontainer.json')
const config = parseStrict(text).value as DevContainer
const postCreate = readText('.devcontainer/post-create.sh')

describe('devcontainer.json', () => {
  it('parses as JSONC with no error', () => {
    expect(parseStrict(text).errors).toEqual([])
  })

  it('the parse is strict: a missing comma or a trailing comma is an error', () => {
    expect(parseStrict(text.replace('"forwardPorts": [5173],', '"forwardPorts": [5173]')).errors).not.toEqual([])
    expect(parseStrict(text.replace('"redhat.vscode-yaml"]', '"redhat.vscode-yaml",]')).errors).not.toEqual([])
  })

  it('matches the schema, which refuses a misspelt property', () => {
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true)
    expect(validate({ ...config, postCreateCommands: 'x' })).toBe(false)
    expect(validate({ ...config, hostRequirements: { gpu: 'maybe' } })).toBe(false)
  })

  // The CLI is lenient (it reads even a truncated file), so this shows only that the official
  // tool sees the configuration parsed here; the strict parse and the schema refuse mistakes.
  // It asks Docker for a running container first: `true` stands in for a Docker with none, so
  // the test reads the file whether or not a Docker engine runs here.
  // The CLI is a Node.js program: 1 s on a quiet machine, 14 s at load 15 while CI's kind cluster starts.
  it('the Dev Containers CLI reads the same configuration', { timeout: 30_000 }, () => {
    const workspace = mkdtempSync(join(tmpdir(), 'devcontainer-'))
    cpSync(join(root, '.devcontainer'), join(workspace, '.devcontainer'), { recursive: true })
    const cli = join(root, 'node_modules/@devcontainers/cli/devcontainer.js')
    const out = execFileSync(
      process.execPath,
      [cli, 'read-configuration', '--docker-path', 'true', '--workspace-folder', workspace],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    )
    const { configuration } = JSON.parse(out) as { configuration: Record<string, unknown> }
    delete configuration.configFilePath
    expect(configuration).toEqual(config)
  })

  it('runs a supported Node.js line, with Docker in Docker and Go', () => {
    const major = Number(/typescript-node:(\d+)-/.exec(config.image)![1])
    expect(supportedNodeMajors()).toContain(major)
    expect(Object.keys(config.features)).toEqual(
      expect.arrayContaining([
        'ghcr.io/devcontainers/features/docker-in-docker:2',
        'ghcr.io/devcontainers/features/go:1',
      ]),
    )
    // Prometheus, built from the Go module proxy, needs Go 1.26.7 or later (its go.mod); the feature installs the newest 1.26.
    expect(config.features['ghcr.io/devcontainers/features/go:1']!.version).toBe('1.26')
    expect(config.hostRequirements.gpu).toBe('optional')
  })

  it("forwards the docs site's port: VitePress' dev server default, which `npm run docs` keeps", () => {
    const docs = (JSON.parse(readText('package.json')) as { scripts: Record<string, string> }).scripts.docs!
    expect(docs).toBe('vitepress dev docs')
    expect(config.forwardPorts).toEqual([5173])
    expect(config.portsAttributes['5173']!.label).toMatch(/docs/)
  })
})

describe('post-create.sh', () => {
  it('is what postCreateCommand runs, and is executable', () => {
    expect(config.postCreateCommand).toBe('bash .devcontainer/post-create.sh')
    accessSync(join(root, '.devcontainer/post-create.sh'), constants.X_OK)
    expect(postCreate).toMatch(/^set -euo pipefail$/m)
  })

  it('installs kind at the version the lab pins', () => {
    expect(postCreate).toContain(`KIND_VERSION=${KIND_VERSION}\n`)
    expect(postCreate).toContain('go install "sigs.k8s.io/kind@${KIND_VERSION}"')
  })

  const [script, nextSteps] = postCreate.split("cat <<'NEXT'")

  it('installs the dependencies as .ci/run does, then creates the cluster', () => {
    expect(npmCommands(script!)).toEqual(['npm ci', 'npm run cluster:up'])
    expect(ciRunCommands()).toContain('npm ci')
  })

  it('names only npm scripts that package.json has, in what it runs and in the next steps it prints', () => {
    expect(npmCommands(nextSteps!)).toContain('npm run step')
    for (const command of npmCommands(postCreate).filter((c) => c.startsWith('npm run '))) {
      expect(packageScripts()).toContain(command.slice('npm run '.length))
    }
  })
})
