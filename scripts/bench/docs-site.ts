import type { Server } from 'node:http'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { chromium } from 'playwright-core'
import { EnvironmentError } from '../lib/errors.ts'
import { repoRoot } from '../lib/project.ts'
import { settings } from '../lib/settings.ts'
import { isFile, serveSite } from '../lib/static-site.ts'
import type { Benchmark, Measurement } from './benchmark.ts'

/** Pages that stand for the others: the home page, a page of prose, two lessons, the calculator, the glossary. */
const pages = ['/', '/start-here', '/steps/02-headless-service', '/steps/04-router', '/gpu-memory', '/glossary']

const kib = (bytes: number) => Math.round((bytes / 1024) * 10) / 10

/**
 * The JavaScript each of a few pages of the built docs site (`npm run docs:build`) makes a browser
 * load on a first visit: every script Chromium fetched until the network was idle (the framework,
 * the theme, the page's lean chunk, anything they import) plus the page's inline scripts, raw and
 * gzipped at level 9 (what a server that compresses would send). Later pages reuse the shared chunks.
 */
export const docsSiteBenchmark: Benchmark = {
  name: 'docs-site',
  description: `JavaScript a first visit loads, raw and gzipped, on ${pages.length} pages of the built docs site`,
  async run() {
    const dist = join(repoRoot, 'docs', '.vitepress', 'dist')
    if (!(await isFile(join(dist, 'index.html'))))
      throw new EnvironmentError(`the built site is missing (${dist}): run \`npm run docs:build\` first`)
    if (!(await isFile(settings.chromiumPath)))
      throw new EnvironmentError(
        `no Chromium at ${settings.chromiumPath}: install Debian's chromium or set CHROMIUM_PATH`,
      )
    let server: Server | undefined
    const browser = await chromium.launch({ executablePath: settings.chromiumPath, args: ['--no-sandbox'] })
    try {
      const site = await serveSite(dist)
      server = site.server
      const measurements: Measurement[] = []
      for (const path of pages) {
        const context = await browser.newContext()
        const page = await context.newPage()
        const scripts: Promise<Buffer>[] = []
        page.on('response', (response) => {
          if (response.request().resourceType() === 'script') scripts.push(response.body())
        })
        const response = await page.goto(site.baseUrl + path, { waitUntil: 'networkidle' })
        if (response?.status() !== 200) throw new Error(`${path}: status ${response?.status()}`)
        const html = await response.text()
        const inline = [...html.matchAll(/<script(?: id="[^"]*")?>([\s\S]*?)<\/script>/g)].map(([, code]) =>
          Buffer.from(code!),
        )
        const bodies = [...(await Promise.all(scripts)), ...inline]
        await context.close()
        const raw = bodies.reduce((sum, body) => sum + body.length, 0)
        const gzipped = bodies.reduce((sum, body) => sum + gzipSync(body, { level: 9 }).length, 0)
        measurements.push(
          {
            metric: `${path}: JavaScript, gzipped (${scripts.length} files + ${inline.length} inline)`,
            value: kib(gzipped),
            unit: 'KiB',
          },
          { metric: `${path}: JavaScript, raw`, value: kib(raw), unit: 'KiB' },
        )
      }
      return measurements
    } finally {
      await browser.close()
      await new Promise((done) => (server ? server.close(done) : done(undefined)))
    }
  },
}
