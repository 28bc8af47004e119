// proxyPost, which step 04's checks use to see which backend answered: against a local HTTP
// server standing in for the API server's pod and service proxy paths. It must keep the
// answer's headers whatever the status, send the JSON body, and never throw on an HTTP error.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { podProxyPut, proxyPost, type KubeContext } from '../../scripts/lib/kube.ts'
import { kubeContextFor } from './fake-api-server.ts'

interface Seen {
  method?: string
  url?: string
  contentType?: string
  priority?: string
  body: string
}
const seen: Seen[] = []
let server: Server
let kube: KubeContext

const bodyOf = (request: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = ''
    request.on('data', (chunk: Buffer) => (text += chunk.toString()))
    request.on('end', () => resolve(text))
  })

beforeAll(async () => {
  server = createServer((request, response) => {
    void bodyOf(request).then((body) => {
      // The client encodes the name and the path (router%3Ahttp, v1%2Fcompletions); the API server decodes them.
      const url = decodeURIComponent(request.url ?? '')
      const priority = request.headers['x-serving-lab-priority'] as string | undefined
      seen.push({
        method: request.method,
        url,
        contentType: request.headers['content-type'],
        ...(priority ? { priority } : {}),
        body,
      })
      if (url.includes('/services/router:http/')) {
        response.writeHead(200, { 'content-type': 'application/json', 'X-Serving-Lab-Backend': '10.244.2.7:8000' })
        response.end('{"object":"text_completion","choices":[{"text":" hi"}]}')
      } else if (url.includes('/pods/router-a:8080/')) {
        response.writeHead(502, { 'content-type': 'application/json', 'x-serving-lab-backend': '10.244.3.7:8000' })
        response.end('{"error":{"message":"bad gateway","code":502}}')
      } else if (url.includes('/pods/llama-3-70b-1:8000/')) {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(body)
      } else {
        response.writeHead(503, { 'content-type': 'application/json' })
        response.end(
          '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \\"router:http\\"","code":503}',
        )
      }
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  kube = kubeContextFor(server)
})

afterAll(() => new Promise<void>((done) => server.close(() => done())))

describe('proxyPost', () => {
  it('sends the extra request headers it is given (step 06: priority, deadline)', async () => {
    seen.length = 0
    await proxyPost(
      kube,
      'lab-06',
      { pod: 'llama-3-70b-1:8000' },
      '/v1/completions',
      { prompt: 'x' },
      {
        'x-serving-lab-priority': '0',
      },
    )
    expect(seen[0]).toMatchObject({ priority: '0', contentType: 'application/json', body: '{"prompt":"x"}' })
  })

  it('posts the JSON body through the service proxy and keeps the headers, names in lower case', async () => {
    const answer = await proxyPost(kube, 'lab-04', { service: 'router:http' }, '/v1/completions', { prompt: 'hello' })
    expect(answer.status).toBe(200)
    expect(answer.headers['x-serving-lab-backend']).toBe('10.244.2.7:8000')
    expect(JSON.parse(answer.body)).toEqual({ object: 'text_completion', choices: [{ text: ' hi' }] })
    expect(seen.at(-1)).toEqual({
      method: 'POST',
      url: '/api/v1/namespaces/lab-04/services/router:http/proxy/v1/completions',
      contentType: 'application/json',
      body: '{"prompt":"hello"}',
    })
  })

  it('returns an error status with its body and headers instead of throwing', async () => {
    const answer = await proxyPost(kube, 'lab-04', { pod: 'router-a:8080' }, 'v1/completions', {})
    expect(seen.at(-1)?.url).toBe('/api/v1/namespaces/lab-04/pods/router-a:8080/proxy/v1/completions')
    expect(answer.status).toBe(502)
    expect(answer.headers['x-serving-lab-backend']).toBe('10.244.3.7:8000')
    expect(answer.body).toContain('bad gateway')
  })

  it('returns the API server’s own Status as the body, without a backend header', async () => {
    const answer = await proxyPost(kube, 'lab-04', { service: 'nothing:http' }, '/v1/completions', {})
    expect(answer.status).toBe(503)
    expect(answer.headers['x-serving-lab-backend']).toBeUndefined()
    expect(answer.body).toContain('no endpoints available')
  })

  it('returns status 0 and the error when nothing answers', async () => {
    const config = new KubeConfig()
    config.loadFromOptions({
      clusters: [{ name: 'gone', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'nobody' }],
      contexts: [{ name: 'gone', cluster: 'gone', user: 'nobody' }],
      currentContext: 'gone',
    })
    const answer = await proxyPost(
      { context: 'gone', config, core: config.makeApiClient(CoreV1Api) } as KubeContext,
      'lab-04',
      { pod: 'x:1' },
      '/',
      {},
    )
    expect(answer.status).toBe(0)
    expect(answer.headers).toEqual({})
    expect(answer.body).toMatch(/ECONNREFUSED/)
  })
})

describe('podProxyPut', () => {
  it('puts the JSON body through the pod proxy, as the failure checks do', async () => {
    const answer = await podProxyPut(kube, 'lab-04', 'llama-3-70b-1:8000', '/admin/failures', {
      rate: 1,
      types: ['server_error'],
    })
    expect(JSON.parse(answer)).toEqual({ rate: 1, types: ['server_error'] })
    expect(seen.at(-1)).toMatchObject({
      method: 'PUT',
      url: '/api/v1/namespaces/lab-04/pods/llama-3-70b-1:8000/proxy/admin/failures',
      contentType: 'application/json',
    })
  })
})
