/**
 * A diagram of docs/public, made ready to sit inside a page instead of in an <img>: only inline
 * SVG can take its colours from the page, so that the site's own light/dark switch recolours it
 * (an <img> follows the browser's preference, not the switch).
 *
 * Each diagram file is a standalone SVG: a <style> with its palette (`svg { --diagram-…: … }`,
 * then the same names for `prefers-color-scheme: dark`) and a few rules for `text` and classes,
 * every colour a `var(--diagram-…)`. Inside a page:
 * - the palette rules are dropped: the site's CSS sets the same variables from its theme
 *   (`.vp-doc .diagram svg` and `.dark …`, theme/custom.css);
 * - the other rules are written onto the elements they match, as style attributes, because a
 *   <style> in a Vue template is removed (and would apply to the whole page);
 * - ids get the diagram's name in front, so two diagrams on one page do not share an `arrow`;
 * - it is hidden from assistive technology: the link around it carries the page's alt text
 *   (diagramLink), as a link around an <img> did. A `role` attribute would also keep Vue from
 *   compiling the SVG to a static string, which the lean page chunk leaves out of a page's first
 *   load: the diagram would then ship twice, as HTML and as JavaScript.
 */

/** One rule of a diagram's <style>: a tag (`text`) or a class (`.small`) selector and its declarations. */
interface Rule {
  selector: string
  declarations: string
}

const PALETTE_RULE = /^svg$/

/** The rules of a diagram's <style>, the palette and its dark variant left out. */
export function styleRules(css: string): Rule[] {
  const rules: Rule[] = []
  const withoutComments = css.replace(/\/\*[\s\S]*?\*\//g, '')
  // The dark palette is the one nested block: it goes whole.
  const flat = withoutComments.replace(/@media[^{]*\{\s*svg\s*\{[^}]*\}\s*\}/g, '')
  for (const [, selectors, declarations] of flat.matchAll(/([^{}]+)\{([^{}]*)\}/g)) {
    for (const selector of selectors!.split(',').map((s) => s.trim())) {
      if (PALETTE_RULE.test(selector)) continue
      if (!/^(?:[a-z]+|\.[\w-]+)$/.test(selector))
        throw new Error(`a diagram's selector the inliner cannot apply: ${selector}`)
      rules.push({ selector, declarations: declarations!.trim() })
    }
  }
  return rules
}

/** Declarations as property → value, later ones winning. */
function declarationsOf(text: string, into = new Map<string, string>()): Map<string, string> {
  for (const declaration of text.split(';')) {
    const colon = declaration.indexOf(':')
    if (colon === -1) continue
    into.set(declaration.slice(0, colon).trim(), declaration.slice(colon + 1).trim())
  }
  return into
}

/** The style attribute an element gets: its rules by specificity (tag, then class) and order, then its own style. */
function styleFor(tag: string, classes: string[], ownStyle: string, rules: Rule[]): string {
  const matching = [
    ...rules.filter((rule) => rule.selector === tag),
    ...rules.filter((rule) => rule.selector.startsWith('.') && classes.includes(rule.selector.slice(1))),
  ]
  const style = new Map<string, string>()
  for (const rule of matching) declarationsOf(rule.declarations, style)
  declarationsOf(ownStyle, style)
  // Inside an attribute written with double quotes, a font's name takes single ones.
  return [...style].map(([property, value]) => `${property}: ${value.replace(/"/g, "'")}`).join('; ')
}

const escapeAttribute = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** The diagram `svg` (a file's text), named `name`, as inline SVG. */
export function inlineDiagram(svg: string, name: string): string {
  const ids = [...svg.matchAll(/\sid="([^"]+)"/g)].map((match) => match[1]!)
  const scoped = (id: string) => (ids.includes(id) ? `${name}-${id}` : id)
  let out = svg
    .replace(/<\?xml[^>]*>\s*/, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/\sid="([^"]+)"/g, (_, id: string) => ` id="${scoped(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${scoped(id)})`)
    .replace(/href="#([^"]+)"/g, (_, id: string) => `href="#${scoped(id)}"`)
  const style = /<style>([\s\S]*?)<\/style>/.exec(out)
  const rules = style ? styleRules(style[1]!) : []
  out = out.replace(/\s*<style>[\s\S]*?<\/style>/, '')
  out = out.replace(/<([a-zA-Z]+)\b([^>]*?)(\/?)>/g, (whole, tag: string, attributes: string, close: string) => {
    if (tag === 'svg') {
      const rest = attributes.replace(/\s(?:aria-labelledby|aria-label|aria-hidden|role|class)="[^"]*"/g, '')
      return `<svg class="diagram-svg" aria-hidden="true"${rest}${close}>`
    }
    const classes = /\sclass="([^"]*)"/.exec(attributes)?.[1]?.split(/\s+/) ?? []
    const ownStyle = /\sstyle="([^"]*)"/.exec(attributes)?.[1] ?? ''
    const css = styleFor(tag, classes, ownStyle, rules)
    // Classes go too: their rules are applied, and a page's CSS must not match them.
    const rest = attributes.replace(/\s(?:style|class)="[^"]*"/g, '')
    if (!css && rest === attributes) return whole
    return `<${tag}${rest}${css ? ` style="${css}"` : ''}${close}>`
  })
  // Blank lines would end the HTML block in Markdown.
  return out.replace(/\n\s*\n/g, '\n').trim()
}

/** A diagram drawn inline, in a link to its file (`href`) that a phone can open full size, named by `alt`. */
export function diagramLink(svg: string, name: string, alt: string, href: string): string {
  const link = `class="diagram" href="${escapeAttribute(href)}" target="_blank" title="Open the diagram full size"`
  return `<a ${link} aria-label="${escapeAttribute(alt)}">${inlineDiagram(svg, name)}</a>`
}
