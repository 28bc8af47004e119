// Who is calling, decided as an extension API server behind kube-apiserver's aggregator decides
// it (k8s.io/apiserver's DelegatingAuthenticationOptions): the aggregator connects with its own
// client certificate (--proxy-client-cert-file) and names the real user in headers
// (X-Remote-User, X-Remote-Group, X-Remote-Extra-*). The headers are believed only from a
// certificate issued by the front-proxy CA (--requestheader-client-ca-file) with an allowed
// common name; kube-apiserver publishes both, and the client CA, in the
// kube-system/extension-apiserver-authentication ConfigMap. Other clients may present a client
// certificate of the cluster's client CA and are that certificate's subject.
import { X509Certificate } from 'node:crypto'
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node'

export interface User {
  name: string
  groups: string[]
  extra: Record<string, string[]>
}

export interface RequestHeaderConfig {
  cas: X509Certificate[]
  /** Common names a front proxy's certificate may have; empty: any the CA issued. */
  allowedNames: string[]
  usernameHeaders: string[]
  groupHeaders: string[]
  extraHeaderPrefixes: string[]
}

export interface AuthenticationConfig {
  /** Null when the API server has no --requestheader-client-ca-file: no caller may name another user. */
  requestHeader: RequestHeaderConfig | null
  clientCas: X509Certificate[]
}

export const AUTHENTICATION_CONFIGMAP = { namespace: 'kube-system', name: 'extension-apiserver-authentication' }

/** Every certificate in a PEM bundle. */
export function certificatesOf(pem: string | undefined): X509Certificate[] {
  return [...(pem ?? '').matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (match) => new X509Certificate(match[0]),
  )
}

const jsonList = (text: string | undefined): string[] => (text ? (JSON.parse(text) as string[]) : [])

/** The ConfigMap's data as the configuration it describes. */
export function authenticationConfigFrom(data: Record<string, string>): AuthenticationConfig {
  const requestHeaderCas = certificatesOf(data['requestheader-client-ca-file'])
  return {
    requestHeader:
      requestHeaderCas.length === 0
        ? null
        : {
            cas: requestHeaderCas,
            allowedNames: jsonList(data['requestheader-allowed-names']),
            usernameHeaders: jsonList(data['requestheader-username-headers']),
            groupHeaders: jsonList(data['requestheader-group-headers']),
            extraHeaderPrefixes: jsonList(data['requestheader-extra-headers-prefix']),
          },
    clientCas: certificatesOf(data['client-ca-file']),
  }
}

/** Reads kube-system/extension-apiserver-authentication (the RoleBinding to extension-apiserver-authentication-reader allows it). */
export async function readAuthenticationConfig(kubeConfig: KubeConfig): Promise<AuthenticationConfig> {
  const configMap = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap(AUTHENTICATION_CONFIGMAP)
  return authenticationConfigFrom(configMap.data ?? {})
}

/**
 * Whether `chain` (the peer's certificates, its own first) leads to one of `cas`: each
 * certificate signed by the next, or by a CA in the list, all of them valid `at`.
 */
export function issuedBy(chain: readonly X509Certificate[], cas: readonly X509Certificate[], at = new Date()): boolean {
  const valid = (c: X509Certificate) => new Date(c.validFrom) <= at && at <= new Date(c.validTo)
  const signs = (issuer: X509Certificate, subject: X509Certificate) =>
    subject.checkIssued(issuer) && subject.verify(issuer.publicKey) && valid(issuer)
  for (let i = 0; i < chain.length && i < 5; i++) {
    const certificate = chain[i]!
    if (!valid(certificate)) return false
    if (cas.some((ca) => signs(ca, certificate))) return true
    const next = chain[i + 1]
    if (!next || !next.ca || !signs(next, certificate)) return false
  }
  return false
}

/** The certificate's common name, and its organisations, which Kubernetes reads as groups. */
function subjectOf(certificate: X509Certificate): { commonName: string; organisations: string[] } {
  const lines = certificate.subject.split('\n')
  const values = (key: string) => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1))
  return { commonName: values('CN')[0] ?? '', organisations: values('O') }
}

export type Headers = Record<string, string[] | undefined>

/** The first non-empty value among `names` (header names, any case). */
const firstOf = (headers: Headers, names: readonly string[]) =>
  names.map((name) => headers[name.toLowerCase()]?.find((v) => v !== '')).find((v) => v !== undefined)

function extraOf(headers: Headers, prefixes: readonly string[]): Record<string, string[]> {
  const extra: Record<string, string[]> = {}
  for (const [name, values] of Object.entries(headers)) {
    const prefix = prefixes.find((p) => name.startsWith(p.toLowerCase()))
    if (!prefix || !values) continue
    // The key is percent-encoded in the header's name (KEP-1178 allows any character in it).
    extra[decodeURIComponent(name.slice(prefix.length))] = values
  }
  return extra
}

/** Every authenticated user is in system:authenticated, as kube-apiserver adds it. */
const withAuthenticated = (groups: readonly string[]) => [...new Set([...groups, 'system:authenticated'])]

export type Authentication = { user: User } | { user: null; reason: string }

/**
 * The caller of one request: the user the front proxy names, when its certificate is the
 * front-proxy CA's and its name allowed; else the subject of a client certificate of the client
 * CA; else nobody, with why.
 */
export function authenticate(
  config: AuthenticationConfig,
  peerChain: readonly X509Certificate[],
  headers: Headers,
  at = new Date(),
): Authentication {
  if (peerChain.length === 0) return { user: null, reason: 'no client certificate' }
  const leaf = peerChain[0]!
  const { commonName, organisations } = subjectOf(leaf)
  const proxy = config.requestHeader
  if (proxy && issuedBy(peerChain, proxy.cas, at)) {
    if (proxy.allowedNames.length > 0 && !proxy.allowedNames.includes(commonName))
      return { user: null, reason: `front proxy ${commonName} is not one of ${proxy.allowedNames.join(', ')}` }
    const name = firstOf(headers, proxy.usernameHeaders)
    if (name !== undefined) {
      const groups = proxy.groupHeaders.flatMap((h) => headers[h.toLowerCase()] ?? [])
      return { user: { name, groups: withAuthenticated(groups), extra: extraOf(headers, proxy.extraHeaderPrefixes) } }
    }
  }
  if (issuedBy(peerChain, config.clientCas, at))
    return { user: { name: commonName, groups: withAuthenticated(organisations), extra: {} } }
  return { user: null, reason: 'the client certificate is not issued by the front-proxy CA nor the client CA' }
}
