// Who the metrics adapter believes is calling, on certificates made with openssl: the front
// proxy's headers only from a certificate of the front-proxy CA with an allowed name, a client
// certificate of the client CA as its own subject, anything else nobody.
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeServingCertificate } from '../../scripts/lib/build/certificates.ts'
import {
  authenticate,
  authenticationConfigFrom,
  issuedBy,
  type AuthenticationConfig,
} from '../../workloads/metrics-adapter/authentication.ts'

const dirs: string[] = []
/** A CA and a certificate it issued, both with this common name. */
async function issued(commonName: string): Promise<{ ca: string; leaf: X509Certificate }> {
  const dir = await mkdtemp(join(tmpdir(), 'adapter-authn-'))
  dirs.push(dir)
  const ca = await makeServingCertificate(dir, { commonName, altNames: ['DNS:example.test'], days: 1 })
  return { ca, leaf: new X509Certificate(await readFile(join(dir, 'tls.crt'))) }
}

let frontProxy: { ca: string; leaf: X509Certificate }
let client: { ca: string; leaf: X509Certificate }
let stranger: { ca: string; leaf: X509Certificate }
let config: AuthenticationConfig

const proxyHeaders = {
  'x-remote-user': ['system:serviceaccount:kube-system:horizontal-pod-autoscaler'],
  'x-remote-group': ['system:serviceaccounts', 'system:serviceaccounts:kube-system'],
  'x-remote-extra-authentication.kubernetes.io%2fcredential-id': ['JTI=abc'],
}

beforeAll(async () => {
  ;[frontProxy, client, stranger] = await Promise.all([
    issued('front-proxy-client'),
    issued('alice'),
    issued('mallory'),
  ])
  config = authenticationConfigFrom({
    'client-ca-file': client.ca,
    'requestheader-client-ca-file': frontProxy.ca,
    'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
  })
})

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

describe('metrics adapter authentication', () => {
  it('reads the ConfigMap: the CAs and the header names', () => {
    expect(config.requestHeader?.cas).toHaveLength(1)
    expect(config.requestHeader?.allowedNames).toEqual(['front-proxy-client'])
    expect(config.requestHeader?.usernameHeaders).toEqual(['X-Remote-User'])
    expect(config.clientCas).toHaveLength(1)
    expect(authenticationConfigFrom({ 'client-ca-file': client.ca }).requestHeader).toBeNull()
  })

  it('believes the user, groups and extra the front proxy names', () => {
    expect(authenticate(config, [frontProxy.leaf], proxyHeaders)).toEqual({
      user: {
        name: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
        extra: { 'authentication.kubernetes.io/credential-id': ['JTI=abc'] },
      },
    })
  })

  it('refuses a front-proxy certificate whose name is not allowed', () => {
    const named = authenticationConfigFrom({
      'requestheader-client-ca-file': frontProxy.ca,
      'requestheader-allowed-names': '["aggregator"]',
      'requestheader-username-headers': '["X-Remote-User"]',
    })
    const result = authenticate(named, [frontProxy.leaf], proxyHeaders)
    expect(result.user).toBeNull()
    expect(result).toMatchObject({ reason: expect.stringContaining('front-proxy-client') })
  })

  it('takes a client certificate of the client CA as its subject, and ignores the headers it sends', () => {
    expect(authenticate(config, [client.leaf], proxyHeaders)).toEqual({
      user: { name: 'alice', groups: ['system:authenticated'], extra: {} },
    })
  })

  it('knows nobody without a certificate, or with one of another CA, or an expired one', () => {
    expect(authenticate(config, [], proxyHeaders).user).toBeNull()
    expect(authenticate(config, [stranger.leaf], proxyHeaders).user).toBeNull()
    expect(authenticate(config, [frontProxy.leaf], proxyHeaders, new Date(Date.now() + 3 * 86_400_000)).user).toBeNull()
  })

  it('follows a chain through an intermediate only when the intermediate is a CA the peer sent', () => {
    const [clientCa] = config.clientCas
    expect(issuedBy([client.leaf], config.clientCas)).toBe(true)
    // The client CA sent as the peer's own certificate, with no CA to lead to.
    expect(issuedBy([clientCa!], [])).toBe(false)
    expect(issuedBy([stranger.leaf, clientCa!], config.clientCas)).toBe(false)
  })
})
