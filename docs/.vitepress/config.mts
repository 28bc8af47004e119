import { defineConfig } from 'vitepress'

// The eight steps, in order, as the sidebar lists them.
const steps = [
  { link: '/steps/01-basic-statefulset', text: '01 · A StatefulSet' },
  { link: '/steps/02-headless-service', text: '02 · A headless Service' },
  { link: '/steps/03-multi-node-tp', text: '03 · Multi-node tensor parallelism' },
  { link: '/steps/04-router', text: '04 · A router' },
  { link: '/steps/05-coordination', text: '05 · Coordination' },
  { link: '/steps/06-queue-and-scheduler', text: '06 · A queue and a scheduler' },
  { link: '/steps/07-queue-autoscaling', text: '07 · Queue-based autoscaling' },
  { link: '/steps/08-production-cluster', text: '08 · A production cluster' },
]

/** Code blocks whose long lines wrap (see theme/custom.css). */
const WRAPPED_LANGUAGES = ['yaml', 'txt']

export default defineConfig({
  title: 'Multi-Node Serving Lab',
  description:
    'Serving LLMs too large for one server across GPU nodes on Kubernetes, in eight steps toward NVIDIA Dynamo.',
  lang: 'en',
  // GitHub Pages serves a project's site under /REPO/; the docs workflow passes it.
  base: process.env.DOCS_BASE ?? '/',
  cleanUrls: true,
  lastUpdated: false,
  // Only pages are built; anything else kept under docs/ stays out of the site.
  srcExclude: ['**/README.md', '**/_*.md'],
  markdown: {
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
    nav: [
      {
        text: 'Guide',
        link: '/how-this-lab-works',
        activeMatch: '^/(how-this-lab-works|architecture|topology|benchmarks|mutations|reference/)',
      },
      { text: 'Steps', link: '/steps/01-basic-statefulset', activeMatch: '^/steps/' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'How this lab works', link: '/how-this-lab-works' },
          { text: 'Architecture', link: '/architecture' },
          { text: 'The cluster topology', link: '/topology' },
          { text: 'Benchmarks', link: '/benchmarks' },
          { text: 'The mutation suite', link: '/mutations' },
          { text: 'The security model', link: '/security' },
        ],
      },
      { text: 'Steps', items: steps },
      { text: 'Reference', items: [{ text: 'Workload flags', link: '/reference/workload-flags' }] },
    ],
    outline: { level: [2, 3], label: 'On this page' },
    search: { provider: 'local' },
    docFooter: { prev: 'Previous', next: 'Next' },
  },
})
