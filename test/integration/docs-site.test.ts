// The built docs site, opened in a real browser: the home page renders, the sidebar lists the
// eight steps, a lesson shows a manifest imported from steps/, the workload flags page shows the
// tables its data loader built, and local search works.
// It tests the output of `npm run docs:build` and builds nothing itself.
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { settings } from '../../scripts/lib/settings.ts'
import * as modelServer from '../../workloads/model-server/config.ts'
import * as router from '../../workloads/router/config.ts'

const distDir = fileURLToPath(new URL('../../docs/.vitepress/dist/', import.meta.url))
const chromiumPath = settings.chromiumPath
const hasChromium = existsSync(chromiumPath)
const skipReason = `skipped: no Chromium at ${chromiumPath}; install Debian's chromium package or set CHROMIUM_PATH`

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false
}

/** The file a URL path names, as VitePress' cleanUrls expects: `/foo` is `foo.html`, `/dir/` is `dir/index.html`. */
async function resolveFile(root: string, urlPath: string): Promise<string | undefined> {
  const path = resolve(root, '.' + normalize(decodeURIComponent(urlPath)))
  if (!path.startsWith(resolve(root))) return undefined
  const candidates = urlPath.endsWith('/') ? [join(path, 'index.html')] : [path, `${path}.html`]
  for (const candidate of candidates) if (await isFile(candidate)) return candidate
  return undefined
}

/** A static file server for the built site on a free loopback port. */
async function serveSite(root: string): Promise<{ server: Server; baseUrl: string }> {
  const server = createServer((request, response) => {
    const urlPath = new URL(request.url ?? '/', 'http://localhost').pathname
    resolveFile(root, urlPath)
      .then(async (file) => {
        const status = file ? 200 : 404
        const body = await readFile(file ?? join(root, '404.html')).catch(() => Buffer.from('not found'))
        response.writeHead(status, {
          'content-type': CONTENT_TYPES[extname(file ?? '.html')] ?? 'application/octet-stream',
        })
        response.end(body)
      })
      .catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'text/plain' })
        response.end(String(error))
      })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return { server, baseUrl: `http://127.0.0.1:${port}` }
}

describe.skipIf(!hasChromium)(
  `docs site in Chromium${hasChromium ? '' : ` (${skipReason})`}`,
  { timeout: 60_000 },
  () => {
    let server: Server | undefined
    let browser: Browser | undefined
    let baseUrl = ''

    beforeAll(async () => {
      if (!(await isFile(join(distDir, 'index.html')))) {
        throw new Error(`the built site is missing (${distDir}index.html): run \`npm run docs:build\` first`)
      }
      ;({ server, baseUrl } = await serveSite(distDir))
      browser = await chromium.launch({
        executablePath: chromiumPath,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      })
    }, 60_000)

    afterAll(async () => {
      await browser?.close()
      await new Promise((done) => (server ? server.close(done) : done(undefined)))
    })

    async function open(path: string): Promise<Page> {
      const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } })
      const response = await page.goto(baseUrl + path, { waitUntil: 'networkidle' })
      expect(response?.status(), `status of ${path}`).toBe(200)
      return page
    }

    it("shows the lab's title in the home page's hero", async () => {
      const page = await open('/')
      await expect(page.locator('.VPHero .name').textContent()).resolves.toContain('Multi-Node Serving Lab')
      await page.close()
    })

    it('lists the eight steps in the sidebar', async () => {
      const page = await open('/how-this-lab-works')
      const links = page.locator('.VPSidebar a[href*="/steps/"]')
      const hrefs = await links.evaluateAll((anchors) => anchors.map((a) => a.getAttribute('href')))
      expect(hrefs).toHaveLength(8)
      expect(hrefs[0]).toBe('/steps/01-basic-statefulset')
      expect(hrefs[7]).toBe('/steps/08-production-cluster')
      await page.close()
    })

    it("shows step 01's StatefulSet manifest, imported from the step folder", async () => {
      const page = await open('/steps/01-basic-statefulset')
      const block = page.locator('.vp-doc div[class*="language-yaml"] pre', {
        hasText: 'podManagementPolicy: OrderedReady',
      })
      await expect(block.count()).resolves.toBe(1)
      await expect(block.textContent()).resolves.toContain('kind: StatefulSet')
      await page.close()
    })

    it('shows the workload flags built from the settings, one row each', async () => {
      const page = await open('/reference/workload-flags')
      const rows = page.locator('.vp-doc table tbody')
      await expect(rows.nth(0).locator('tr').count()).resolves.toBe(modelServer.settings.length)
      await expect(rows.nth(1).locator('tr').count()).resolves.toBe(router.settings.length)
      const row = page.locator('.vp-doc tr', { hasText: 'MAX_NUM_SEQS' })
      await expect(row.textContent()).resolves.toContain('--max-num-seqs')
      await page.close()
    })

    it('finds "pod-index" with the local search', async () => {
      const page = await open('/')
      await page.locator('.VPNavBarSearch button').click()
      await page.locator('#localsearch-input').fill('pod-index')
      const results = page.locator('.VPLocalSearchBox .results a.result')
      await results.first().waitFor({ timeout: 10_000 })
      const hrefs = await results.evaluateAll((anchors) => anchors.map((a) => a.getAttribute('href') ?? ''))
      expect(hrefs.some((href) => href.startsWith('/steps/01-basic-statefulset'))).toBe(true)
      await page.close()
    })
  },
)
