import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { EnvironmentError } from '../errors.ts'
import { exec, hasProgram } from '../exec.ts'

export interface ServingCertificate {
  /** Who the certificate is for, in its subject and its CA's. */
  commonName: string
  /** subjectAltName entries, as openssl writes them: `IP:127.0.0.1`, `DNS:adapter.lab-07.svc`. */
  altNames: string[]
  days: number
}

/**
 * A private CA and a serving certificate it signed, made with the openssl CLI in `dir`: `ca.crt`,
 * `tls.crt` and `tls.key` (the names controller-runtime and Kubernetes TLS Secrets use), EC P-256
 * keys. Returns the CA certificate in PEM, for the client's trust (a webhook's or APIService's caBundle).
 */
export async function makeServingCertificate(
  dir: string,
  { commonName, altNames, days }: ServingCertificate,
): Promise<string> {
  if (!(await hasProgram('openssl')))
    throw new EnvironmentError(
      `a TLS certificate for ${commonName} is made with the openssl CLI, which is not installed: 'apt-get install openssl'`,
    )
  const config = join(dir, 'openssl.cnf')
  await writeFile(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      `CN = ${commonName}`,
      '[ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign',
      '[server]',
      'basicConstraints = CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      `subjectAltName = ${altNames.join(', ')}`,
      '',
    ].join('\n'),
  )
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  const openssl = (args: string[]) => exec('openssl', args, { cwd: dir })
  const validity = ['-days', String(days)]
  await openssl([
    'req',
    '-x509',
    '-config',
    config,
    '-extensions',
    'ca',
    ...key,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    ...validity,
  ])
  await openssl(['req', '-new', '-config', config, ...key, '-keyout', 'tls.key', '-out', 'tls.csr'])
  await openssl([
    ...['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', ...validity],
    ...['-extfile', config, '-extensions', 'server', '-out', 'tls.crt'],
  ])
  return readFile(join(dir, 'ca.crt'), 'utf8')
}
