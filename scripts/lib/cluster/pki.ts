import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { EnvironmentError } from '../errors.ts'
import { exec, hasProgram } from '../exec.ts'

/** A certificate signed by the cluster's CA: who it names, and what it may be used for. */
export interface CertificateRequest {
  /** File name without extension: `apiserver` makes apiserver.crt and apiserver.key. */
  file: string
  commonName: string
  /** Kubernetes reads the organization as the user's groups (`system:masters`, `system:nodes`). */
  organization?: string
  usage: 'server' | 'client'
  dnsNames?: string[]
  ips?: string[]
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
const DAYS = '365'

/** The subject line openssl takes: `/O=system:nodes/CN=system:node:gpu-0`. */
export function subject(request: Pick<CertificateRequest, 'commonName' | 'organization'>): string {
  return (request.organization ? `/O=${request.organization}` : '') + `/CN=${request.commonName}`
}

/** The X.509 v3 extensions of a leaf certificate, in openssl's extension-file syntax. */
export function extensions(request: CertificateRequest): string {
  const names = [...(request.dnsNames ?? []).map((name) => `DNS:${name}`), ...(request.ips ?? []).map((ip) => `IP:${ip}`)]
  return [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    `extendedKeyUsage = ${request.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ...(names.length > 0 ? [`subjectAltName = ${names.join(', ')}`] : []),
    '',
  ].join('\n')
}

/**
 * A cluster's certificates, made with the openssl CLI in `dir`: the CA, the service-account
 * signing key pair, and one key and certificate per request.
 */
export async function makePki(dir: string, requests: readonly CertificateRequest[]): Promise<void> {
  if (!(await hasProgram('openssl'))) throw new EnvironmentError("the cluster's certificates are made with the openssl CLI, which is not installed: 'apt-get install openssl'")
  await mkdir(dir, { recursive: true })
  const openssl = (args: string[]) => exec('openssl', args, { cwd: dir })
  await openssl(['req', '-x509', ...KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', DAYS, '-subj', '/CN=serving-lab-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'])
  await openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'])
  for (const request of requests) {
    await writeFile(join(dir, `${request.file}.ext`), extensions(request))
    await openssl(['req', '-new', ...KEY, '-keyout', `${request.file}.key`, '-out', `${request.file}.csr`, '-subj', subject(request)])
    await openssl(['x509', '-req', '-in', `${request.file}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', DAYS, '-extfile', `${request.file}.ext`, '-out', `${request.file}.crt`])
  }
}

/** A kubeconfig with one cluster, user and context, the certificates embedded. */
export async function kubeconfig(pkiDir: string, options: { server: string; user: string; file: string; context?: string }): Promise<string> {
  const base64 = async (name: string) => (await readFile(join(pkiDir, name))).toString('base64')
  const context = options.context ?? options.user
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: context, cluster: { server: options.server, 'certificate-authority-data': await base64('ca.crt') } }],
    users: [{ name: context, user: { 'client-certificate-data': await base64(`${options.file}.crt`), 'client-key-data': await base64(`${options.file}.key`) } }],
    contexts: [{ name: context, context: { cluster: context, user: context } }],
    'current-context': context,
  })
}
