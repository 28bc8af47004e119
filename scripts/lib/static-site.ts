// A static file server for a built VitePress site on a free loopback port, as GitHub Pages serves
// it: `/foo` is `foo.html`, `/dir/` is `dir/index.html`, anything else the site's 404 page. The
// docs-site browser test and the docs-site benchmark open the site through it.
import { readFile, stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'

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

export async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false
}

/** The file a URL path names, as VitePress' cleanUrls expects: `/foo` is `foo.html`, `/dir/` is `dir/index.html`. */
export async function resolveFile(root: string, urlPath: string): Promise<string | undefined> {
  const path = resolve(root, '.' + normalize(decodeURIComponent(urlPath)))
  if (!path.startsWith(resolve(root))) return undefined
  const candidates = urlPath.endsWith('/') ? [join(path, 'index.html')] : [path, `${path}.html`]
  for (const candidate of candidates) if (await isFile(candidate)) return candidate
  return undefined
}

/** A static file server for the built site on a free loopback port. */
export async function serveSite(root: string): Promise<{ server: Server; baseUrl: string }> {
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
