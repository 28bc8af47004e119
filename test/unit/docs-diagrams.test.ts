// The diagrams of docs/public and how a page draws them inline (docs/.vitepress/inline-diagram.ts):
// every colour is a palette variable, each file's light and dark palettes are the site's, and the
// inlined SVG keeps each rule's effect and names its ids after the diagram, in a link named by the page's alt text.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { diagramLink, inlineDiagram, styleRules } from '../../docs/.vitepress/inline-diagram.ts'
import { repoRoot } from '../../scripts/lib/project.ts'

const publicDir = join(repoRoot, 'docs', 'public')
const diagrams = readdirSync(publicDir).filter((file) => file.endsWith('.svg') && file !== 'favicon.svg')
const read = (file: string) => readFileSync(join(publicDir, file), 'utf8')

/** `--diagram-name: value` pairs in a piece of CSS, in order. */
const paletteOf = (css: string) => [...css.matchAll(/(--diagram-[\w-]+):\s*([^;\s]+);/g)].map(([, n, v]) => `${n}=${v}`)

const siteCss = readFileSync(join(repoRoot, 'docs', '.vitepress', 'theme', 'custom.css'), 'utf8')
const sitePalettes = {
  light: paletteOf(/^\.diagram-svg \{([^}]*)\}/m.exec(siteCss)![1]!),
  dark: paletteOf(/^\.dark \.diagram-svg \{([^}]*)\}/m.exec(siteCss)![1]!),
}

describe('the diagrams in docs/public', () => {
  it('are there', () => {
    expect(diagrams.length).toBeGreaterThanOrEqual(9)
  })

  it.each(diagrams)('%s has no colour but a palette variable outside its palettes', (file) => {
    const svg = read(file)
    const style = /<style>([\s\S]*?)<\/style>/.exec(svg)![1]!
    const rules = style.replace(/^\s*svg \{[^}]*\}$/m, '').replace(/@media[^{]*\{\s*svg \{[^}]*\}\s*\}/, '')
    const outsidePalettes = svg.replace(style, rules)
    expect(outsidePalettes.match(/#[0-9a-f]{3,6}\b|rgb\(|\b(?:white|black)\b/gi) ?? []).toEqual([])
  })

  it.each(diagrams)("%s carries the site's light and dark palettes", (file) => {
    const svg = read(file)
    const light = /^\s*svg \{([^}]*)\}$/m.exec(svg)![1]!
    const dark = /@media \(prefers-color-scheme: dark\) \{\s*svg \{([^}]*)\}/.exec(svg)![1]!
    expect(paletteOf(light)).toEqual(sitePalettes.light)
    expect(paletteOf(dark)).toEqual(sitePalettes.dark)
  })

  it('have a light and a dark palette that differ in every colour', () => {
    const names = (palette: string[]) => palette.map((entry) => entry.split('=')[0])
    expect(names(sitePalettes.dark)).toEqual(names(sitePalettes.light))
    sitePalettes.light.forEach((entry, index) => expect(sitePalettes.dark[index]).not.toBe(entry))
  })
})

describe('inlineDiagram', () => {
  const svg = `<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" role="img" aria-labelledby="title desc">
  <title id="title">T</title>
  <desc id="desc">D</desc>
  <style>
    /* palette */
    svg { --diagram-text: #000; }
    @media (prefers-color-scheme: dark) { svg { --diagram-text: #fff; } }
    text { font-family: Inter, "Segoe UI"; fill: var(--diagram-text); font-size: 14px; }
    .small { font-size: 12px; }
    .arrow { marker-end: url(#head); }
  </style>
  <defs><marker id="head"><path d="M0 0"/></marker></defs>

  <text class="small" x="1" style="font-weight: 700">a</text>
  <text x="2">b</text>
  <line class="arrow" x1="0"/>
</svg>`
  const out = inlineDiagram(svg, 'demo')

  it('is hidden from assistive technology, and has no role (Vue would not keep it static HTML)', () => {
    expect(out).toMatch(/^<svg class="diagram-svg" aria-hidden="true" xmlns=/)
    expect(out).not.toMatch(/aria-labelledby|role=/)
  })

  it('sits in a link to its file, named by the alt text', () => {
    expect(diagramLink(svg, 'demo', 'A "demo" & more', '/base/demo.svg')).toMatch(
      /^<a class="diagram" href="\/base\/demo.svg" target="_blank" title="[^"]+" aria-label="A &quot;demo&quot; &amp; more"><svg /,
    )
  })

  it('drops the <style>, the XML declaration and blank lines', () => {
    expect(out).not.toContain('<style')
    expect(out).not.toContain('<?xml')
    expect(out).not.toMatch(/\n\s*\n/)
  })

  it('writes each rule onto what it matches: tag, then class, then the element’s own style', () => {
    expect(out).toContain(
      `<text x="1" style="font-family: Inter, 'Segoe UI'; fill: var(--diagram-text); font-size: 12px; font-weight: 700">a</text>`,
    )
    expect(out).toContain(
      `<text x="2" style="font-family: Inter, 'Segoe UI'; fill: var(--diagram-text); font-size: 14px">b</text>`,
    )
  })

  it('puts the diagram’s name in front of its ids and of every reference to them', () => {
    expect(out).toContain('<marker id="demo-head">')
    expect(out).toContain('<line x1="0" style="marker-end: url(#demo-head)"/>')
    expect(out).toContain('<title id="demo-title">')
  })

  it('refuses a selector it cannot apply', () => {
    expect(() => styleRules('g text { fill: red; }')).toThrow(/g text/)
  })

  it.each(diagrams)('inlines %s with no rule left behind', (file) => {
    const inlined = inlineDiagram(read(file), file.replace('.svg', ''))
    expect(inlined).not.toMatch(/\sclass="(?!diagram-svg)/)
    expect(inlined).toContain('var(--diagram-')
  })
})
