// The built docs site, opened in a real browser: every page in light and dark, at desktop and
// phone width (no console error, no failed request, every diagram and code block rendered,
// nothing wider than the screen, a screenshot of each in each theme written outside the
// repository); diagrams coloured by the theme, not inverted; the
// sidebar lists the eight steps, a lesson shows a manifest imported from steps/ and its generated
// parts (diff, recorded run, failure table, break it, cleanup), the workload
// flags page shows the tables its data loader built, the GPU calculator computes a known case,
// and local search works.
// It tests the output of `npm run docs:build` and builds nothing itself.
import { existsSync } from 'node:fs'
import { mkdir, readdir, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readRecordedRun } from '../../scripts/lib/lessons/recorded-run.ts'
import { settings } from '../../scripts/lib/settings.ts'
import { isFile, serveSite } from '../../scripts/lib/static-site.ts'
import * as modelServer from '../../workloads/model-server/config.ts'
import * as router from '../../workloads/router/config.ts'

const distDir = fileURLToPath(new URL('../../docs/.vitepress/dist/', import.meta.url))
const chromiumPath = settings.chromiumPath
const hasChromium = existsSync(chromiumPath)
const skipReason = `skipped: no Chromium at ${chromiumPath}; install Debian's chromium package or set CHROMIUM_PATH`

/** Every page of the built site as a URL path (`/`, `/steps/01-basic-statefulset`), the 404 page left out. */
async function sitePages(root: string, dir = root): Promise<string[]> {
  const paths: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory() && entry.name !== 'assets') paths.push(...(await sitePages(root, path)))
    else if (entry.isFile() && entry.name.endsWith('.html') && entry.name !== '404.html')
      paths.push(
        '/' +
          relative(root, path)
            .replace(/\\/g, '/')
            .replace(/(^|\/)index\.html$/, '$1')
            .replace(/\.html$/, ''),
      )
  }
  return paths.sort()
}

/**
 * How each page is looked at: light on a desktop, dark on a phone 390 px wide. Each is also
 * photographed in the other theme, switched as the site's own switch does (the `dark` class).
 */
const VIEWS = [
  { name: 'light-desktop', colorScheme: 'light', width: 1280, height: 900 },
  { name: 'dark-phone', colorScheme: 'dark', width: 390, height: 844 },
] as const

/** The little of the browser's DOM these checks use (the project's types have no DOM library). */
interface DomElement {
  tagName: string
  className: string
  textContent: string | null
  getAttribute(name: string): string | null
  querySelector(selector: string): DomElement | null
  querySelectorAll(selector: string): ArrayLike<DomElement>
  getBoundingClientRect(): { right: number; width: number; height: number }
  // Images and links:
  complete?: boolean
  naturalWidth?: number
  alt?: string
  href?: string
  src?: string
}
interface DomWindow {
  document: {
    documentElement: { scrollWidth: number; classList: { contains(name: string): boolean } }
    querySelectorAll(selector: string): ArrayLike<DomElement>
  }
  innerWidth: number
  getComputedStyle(element: DomElement): { fill: string; filter: string }
  fetch(url: string, init: { method: string }): Promise<{ ok: boolean; headers: { get(name: string): string | null } }>
}

/** What is wrong on the page as rendered: empty when nothing is. Runs in the browser. */
async function renderingProblems(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const { document, innerWidth, fetch } = globalThis as unknown as DomWindow
    const all = (selector: string) => Array.from(document.querySelectorAll(selector))
    const problems: string[] = []
    for (const image of all('.vp-doc img, .VPHero img')) {
      const name = image.getAttribute('src') ?? '?'
      if (!image.complete || image.naturalWidth === 0) problems.push(`image ${name} did not load`)
      if (!image.alt?.trim()) problems.push(`image ${name} has no alt text`)
    }
    // A diagram is inline SVG, drawn, in a link to its file full size named by its text alternative.
    for (const link of all('.vp-doc a.diagram, .VPHero a.hero-picture')) {
      const svg = link.querySelector('svg.diagram-svg')
      const box = svg?.getBoundingClientRect()
      if (!svg || !box || box.width < 100 || box.height < 50) problems.push(`diagram ${link.href} is not drawn`)
      if ((link.getAttribute('aria-label')?.trim().length ?? 0) < 20)
        problems.push(`diagram ${link.href} has no text alternative`)
      const file = await fetch(link.href!, { method: 'HEAD' })
      if (!file.ok || !file.headers.get('content-type')?.startsWith('image/svg+xml'))
        problems.push(`diagram link ${link.href} does not open a picture`)
    }
    for (const block of all('.vp-doc div[class*="language-"]')) {
      if (block.querySelectorAll('pre code .line').length === 0 || !block.textContent?.trim())
        problems.push(`an empty code block: ${block.className}`)
    }
    const overflow = document.documentElement.scrollWidth - innerWidth
    if (overflow > 0) {
      const wide = all('.VPContent *')
        .filter((element) => element.getBoundingClientRect().right > innerWidth + 1)
        .slice(0, 3)
        .map((element) => `${element.tagName.toLowerCase()}.${element.className}`)
      problems.push(`the page is ${overflow} px wider than the screen: ${wide.join(', ')}`)
    }
    return problems
  })
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

    /** Switches the theme as the site's switch does, without reloading. */
    async function switchTheme(page: Page): Promise<void> {
      await page.evaluate(() => {
        const { document } = globalThis as unknown as DomWindow
        ;(document.documentElement.classList as unknown as { toggle(name: string): void }).toggle('dark')
      })
    }

    async function open(path: string): Promise<Page> {
      const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } })
      const response = await page.goto(baseUrl + path, { waitUntil: 'networkidle' })
      expect(response?.status(), `status of ${path}`).toBe(200)
      return page
    }

    it('renders every page light on a desktop and dark on a phone, without an error', async () => {
      const paths = await sitePages(distDir)
      expect(paths).toEqual(expect.arrayContaining(['/', '/start-here', '/glossary', '/gpu-memory']))
      const screenshots = settings.screenshotsDir
      await mkdir(screenshots, { recursive: true })
      // Screenshots of pages that no longer exist would mislead: this test's own go first.
      for (const file of await readdir(screenshots))
        if (/^(?:desktop|phone)-(?:light|dark)-.+\.png$/.test(file)) await rm(join(screenshots, file))
      const problems: string[] = []
      for (const view of VIEWS) {
        const context: BrowserContext = await browser!.newContext({
          viewport: { width: view.width, height: view.height },
          colorScheme: view.colorScheme,
        })
        const page = await context.newPage()
        let current = ''
        page.on('console', (message) => {
          if (message.type() === 'error') problems.push(`${view.name} ${current}: console error: ${message.text()}`)
        })
        page.on('pageerror', (error) => problems.push(`${view.name} ${current}: ${error.message}`))
        page.on('response', (response) => {
          if (response.status() >= 400) problems.push(`${view.name} ${current}: ${response.status()} ${response.url()}`)
        })
        for (const path of paths) {
          current = path
          const response = await page.goto(baseUrl + path, { waitUntil: 'networkidle' })
          if (response?.status() !== 200) problems.push(`${view.name} ${path}: status ${response?.status()}`)
          const dark = await page.evaluate(() =>
            (globalThis as unknown as DomWindow).document.documentElement.classList.contains('dark'),
          )
          if (dark !== (view.colorScheme === 'dark'))
            problems.push(`${view.name} ${path}: the theme is not ${view.colorScheme}`)
          for (const problem of await renderingProblems(page)) problems.push(`${view.name} ${path}: ${problem}`)
          const name = path === '/' ? 'index' : path.slice(1).replaceAll('/', '-')
          const width = view.width < 768 ? 'phone' : 'desktop'
          const other = view.colorScheme === 'dark' ? 'light' : 'dark'
          await page.screenshot({ path: join(screenshots, `${width}-${view.colorScheme}-${name}.png`) })
          await switchTheme(page)
          await page.screenshot({ path: join(screenshots, `${width}-${other}-${name}.png`) })
          await switchTheme(page)
        }
        await context.close()
      }
      expect(problems).toEqual([])
    }, 480_000)

    it("colours a diagram's shapes and text from the site's theme switch, not by inverting it", async () => {
      for (const [path, diagram] of [
        ['/steps/01-basic-statefulset', '.vp-doc a.diagram'],
        ['/', '.VPHero a.hero-picture'],
      ] as const) {
        const page = await open(path)
        const svg = page.locator(`${diagram} svg.diagram-svg`).first()
        /** The computed fill of the diagram's first panel and first text, and the diagram's filter. */
        const colours = () =>
          svg.evaluate((root) => {
            const { getComputedStyle } = globalThis as unknown as DomWindow
            const element = root as unknown as DomElement
            const fill = (shape: DomElement | null) => (shape ? getComputedStyle(shape).fill : 'missing')
            return {
              panel: fill(element.querySelector('rect')),
              text: fill(element.querySelector('text')),
              filter: getComputedStyle(element).filter,
            }
          })
        // The home page's picture is hydrated after the page loads, and its first SVG replaced then:
        // a detached element has no computed style.
        await expect.poll(async () => (await colours()).panel, { timeout: 10_000 }).toMatch(/^rgb/)
        const light = await colours()
        await switchTheme(page)
        await expect.poll(async () => (await colours()).panel, { timeout: 10_000 }).not.toBe(light.panel)
        const dark = await colours()
        await page.close()
        expect(light.panel, `${path}: a panel in light`).toMatch(/^rgb/)
        expect(dark.panel, `${path}: a panel, dark against light`).not.toBe(light.panel)
        expect(dark.text, `${path}: text, dark against light`).not.toBe(light.text)
        expect([light.filter, dark.filter]).toEqual(['none', 'none'])
      }
    })

    it('computes a known case in the GPU memory calculator', async () => {
      const page = await open('/gpu-memory')
      // The default, Llama-3-70B in BF16, 16 × 8,192 tokens: 202.6 GB, 3 GPUs (test/unit/gpu-memory.test.ts).
      await expect(page.getByTestId('gpus').textContent()).resolves.toBe('3 GPUs')
      await page.locator('select[name="preset"]').selectOption('Llama-3.1-405B')
      await page.locator('input[name="batch"]').fill('8')
      await expect(page.getByTestId('total').textContent()).resolves.toBe('928.2 GB')
      await expect(page.getByTestId('gpus').textContent()).resolves.toBe('12 GPUs')
      await expect(page.getByTestId('nodes').textContent()).resolves.toBe('2 nodes')
      await page.close()
    })

    it('leads from step to step only: no Previous before step 01, no Next on other pages', async () => {
      const pagerLinks = async (path: string) => {
        const page = await open(path)
        const links = await page
          .locator('.VPDocFooter .pager-link')
          .evaluateAll((anchors) => anchors.map((a) => a.getAttribute('href')))
        await page.close()
        return links
      }
      expect(await pagerLinks('/steps/01-basic-statefulset')).toEqual(['/steps/02-headless-service'])
      expect(await pagerLinks('/steps/02-headless-service')).toEqual([
        '/steps/01-basic-statefulset',
        '/steps/03-multi-node-tp',
      ])
      expect(await pagerLinks('/how-this-lab-works')).toEqual([])
    })

    it("shows the lab's title in the home page's hero", async () => {
      const page = await open('/')
      await expect(page.locator('.VPHero .name').textContent()).resolves.toContain('Multi-Node Serving Lab')
      await page.close()
    })

    it('lists the eight steps in the sidebar, and the lab and Dynamo', async () => {
      const page = await open('/how-this-lab-works')
      const links = page.locator('.VPSidebar a[href*="/steps/"]')
      const hrefs = await links.evaluateAll((anchors) => anchors.map((a) => a.getAttribute('href')))
      expect(hrefs).toHaveLength(8)
      expect(hrefs[0]).toBe('/steps/01-basic-statefulset')
      expect(hrefs[7]).toBe('/steps/08-production')
      // Where the steps lead, right after them.
      await expect(page.locator('.VPSidebar a[href="/dynamo"]').count()).resolves.toBe(1)
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

    it("shows step 02's generated parts: the diff, a recorded run, the failure table, break it and cleanup", async () => {
      const run = (await readRecordedRun('02'))!
      const page = await open('/steps/02-headless-service')
      const added = page.locator('.step-diff .line.add', { hasText: 'serviceName: llama-3-70b' })
      await expect(added.count()).resolves.toBe(1)
      const output = await page.locator('.step-run pre').textContent()
      expect(output).toContain(`step 02: ${run.report.total.passed} passed, 0 failed`)
      const rows = page.locator('table.step-failures tbody tr')
      await expect(rows.count()).resolves.toBeGreaterThanOrEqual(run.report.checks.length)
      await expect(page.locator('table.step-failures').textContent()).resolves.toContain('spec.serviceName')
      const links = await page
        .locator('.step-break-it a')
        .evaluateAll((anchors) => anchors.map((a) => a.getAttribute('href') ?? ''))
      expect(links).toContain('/mutations#step-02-service-name-mismatch')
      await expect(page.locator('.vp-doc pre', { hasText: 'kubectl delete namespace lab-02' }).count()).resolves.toBe(1)
      await page.close()
      const mutations = await open('/mutations')
      for (const link of links) await expect(mutations.locator(link.replace('/mutations', '')).count()).resolves.toBe(1)
      await mutations.close()
    })

    it('shows the workload flags built from the settings, one row each', async () => {
      const page = await open('/reference/workload-flags')
      const rows = page.locator('.vp-doc table tbody')
      await expect(rows.nth(0).locator('tr').count()).resolves.toBe(modelServer.settings.length)
      await expect(rows.nth(1).locator('tr').count()).resolves.toBe(router.settings.length)
      // The model server's own table: the frontend has a DEFAULT_MAX_NUM_SEQS of its own.
      const row = rows.nth(0).locator('tr', { hasText: 'MAX_NUM_SEQS' })
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
