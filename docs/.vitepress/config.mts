import { readFileSync } from 'node:fs'
import { defineConfig, type DefaultTheme } from 'vitepress'
import { diagramLink } from './inline-diagram.ts'

// The eight steps, in order, as the sidebar lists them; 08 has its first half (kwok), the kind half to come.
const steps = [
  { link: '/steps/01-basic-statefulset', text: '01 · A StatefulSet' },
  { link: '/steps/02-headless-service', text: '02 · A headless Service' },
  { link: '/steps/03-multi-node-tp', text: '03 · Multi-node tensor parallelism' },
  { link: '/steps/04-router', text: '04 · A router' },
  { link: '/steps/05-coordination', text: '05 · Coordination' },
  { link: '/steps/06-dynamo-like', text: '06 · Dynamo-like: a queue and a gang scheduler' },
  { link: '/steps/07-autoscaling', text: '07 · Queue-based autoscaling' },
  { link: '/steps/08-production', text: '08 · The production cluster' },
]

/**
 * The repository's address for the navigation bar's GitHub link: package.json's `repository` when
 * it has one, else DOCS_REPOSITORY_URL (the docs workflow passes the repository it builds). With
 * neither, the site shows no repository link rather than a wrong one.
 */
const REPOSITORY_URL: string | undefined = (() => {
  const { repository } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    repository?: string | { url?: string }
  }
  const url = typeof repository === 'string' ? repository : repository?.url
  return url?.replace(/^git\+/, '').replace(/\.git$/, '') || process.env.DOCS_REPOSITORY_URL || undefined
})()

/** A step's number from a page's path or link (`steps/03-multi-node-tp.md` → `03`). */
const stepOf = (path: string) => /(?:^|\/)steps\/(\d{2})-/.exec(path)?.[1]

/** A learner's pages, in reading order, before the steps. */
const learn: DefaultTheme.SidebarItem[] = [
  { text: 'Start here', link: '/start-here' },
  { text: 'How this lab works', link: '/how-this-lab-works' },
  { text: 'The cluster topology', link: '/topology' },
  { text: 'Glossary', link: '/glossary' },
  { text: 'GPU memory calculator', link: '/gpu-memory' },
]

/** Pages for those who change the lab, at the end of the sidebar. */
const contribute: DefaultTheme.SidebarItem[] = [
  { text: 'Architecture', link: '/architecture' },
  { text: 'Benchmarks', link: '/benchmarks' },
  { text: 'Performance', link: '/performance' },
  { text: 'The mutation suite', link: '/mutations' },
  { text: 'The security model', link: '/security' },
  { text: 'Monitoring and logs', link: '/observability' },
  { text: 'Runbook', link: '/runbook' },
  { text: 'Workload flags', link: '/reference/workload-flags' },
]

/** GitHub Pages serves a project's site under /REPO/; the docs workflow passes it. */
const BASE = process.env.DOCS_BASE ?? '/'

/** Code blocks whose long lines wrap (see theme/custom.css). */
const WRAPPED_LANGUAGES = ['yaml', 'txt']

export default defineConfig({
  title: 'Multi-Node Serving Lab',
  description:
    'Serving LLMs too large for one server across GPU nodes on Kubernetes, in eight steps toward NVIDIA Dynamo.',
  lang: 'en',
  base: BASE,
  cleanUrls: true,
  lastUpdated: false,
  // Only pages are built; anything else kept under docs/ stays out of the site.
  srcExclude: ['**/README.md', '**/_*.md'],
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: `${BASE}favicon.svg` }]],
  // Previous and Next lead from one step to the next, and nowhere else: the sidebar's other
  // groups are places to look things up, not a sequence.
  transformPageData(pageData) {
    const step = stepOf(pageData.relativePath)
    if (!step) Object.assign(pageData.frontmatter, { prev: false, next: false })
    if (step === stepOf(steps[0]!.link)) pageData.frontmatter.prev = false
    if (step === stepOf(steps.at(-1)!.link)) pageData.frontmatter.next = false
  },
  markdown: {
    // A diagram from docs/public is drawn inline, so its colours follow the site's theme
    // (inline-diagram.ts), and is a link to its file, so a phone can open it full size and zoom.
    config(md) {
      const image = md.renderer.rules.image!
      md.renderer.rules.image = (tokens, index, options, env, self) => {
        const token = tokens[index]!
        const src = token.attrGet('src') ?? ''
        if (!src.startsWith('/') || !src.endsWith('.svg')) return image(tokens, index, options, env, self)
        const svg = readFileSync(new URL(`../public${src}`, import.meta.url), 'utf8')
        const name = src.slice(1, -'.svg'.length)
        const alt = self.renderInlineAsText(token.children ?? [], options, env)
        return diagramLink(svg, name, alt, BASE + src.slice(1))
      }
    },
    codeTransformers: [
      {
        // Manifests are shown whole and their comments are part of the lesson, so long lines of
        // YAML (and of the runner's output) wrap instead of scrolling out of sight. Each line
        // records its indentation (--hang); theme/custom.css starts its wrapped part two columns
        // further in, under the line's own text.
        name: 'hanging-indent',
        line(node, line) {
          if (!WRAPPED_LANGUAGES.includes(this.options.lang ?? '')) return
          const text = this.source.split('\n')[line - 1] ?? ''
          const indent = text.length - text.trimStart().length
          node.properties.style = `--hang:${indent + 2}ch`
        },
      },
    ],
  },
  themeConfig: {
    logo: '/favicon.svg',
    nav: [
      {
        text: 'Start here',
        link: '/start-here',
        activeMatch: '^/(start-here|how-this-lab-works|topology|glossary|gpu-memory|dynamo)',
      },
      { text: 'Steps', link: '/steps/01-basic-statefulset', activeMatch: '^/steps/' },
      {
        text: 'Contributing',
        link: '/architecture',
        activeMatch: '^/(architecture|benchmarks|performance|mutations|security|reference/)',
      },
    ],
    sidebar: [
      { text: 'Learn', items: learn },
      { text: 'Steps', items: steps },
      { text: 'Where the steps lead', items: [{ text: 'The lab and Dynamo', link: '/dynamo' }] },
      { text: 'For contributors', collapsed: false, items: contribute },
    ],
    socialLinks: REPOSITORY_URL ? [{ icon: 'github', link: REPOSITORY_URL }] : [],
    outline: { level: [2, 3], label: 'On this page' },
    search: { provider: 'local' },
    docFooter: { prev: 'Previous', next: 'Next' },
  },
})
