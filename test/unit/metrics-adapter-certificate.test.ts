// The adapter's own serving certificate: written in DER by hand, so checked by Node's X.509
// parser and by a real TLS handshake that trusts only it, for the name the aggregator checks.
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { createServer, request } from 'node:https'
import { describe, expect, it } from 'vitest'
import { selfSignedCertificate } from '../../workloads/metrics-adapter/self-signed.ts'
import { usableCertificate } from '../../workloads/metrics-adapter/serving-certificate.ts'

const dnsName = 'metrics-adapter.lab-07.svc'

describe('the self-signed serving certificate', () => {
  it('names the Service, signs itself, and is valid from a minute ago for the days asked', () => {
    const now = new Date('2026-01-01T00:00:00Z')
    const { cert } = selfSignedCertificate([dnsName, `${dnsName}.cluster.local`], 365, now)
    const x509 = new X509Certificate(cert)
    expect(x509.subject).toBe(`CN=${dnsName}`)
    expect(x509.subjectAltName).toBe(`DNS:${dnsName}, DNS:${dnsName}.cluster.local`)
    expect(x509.verify(x509.publicKey)).toBe(true)
    expect(x509.ca).toBe(true)
    expect(new Date(x509.validFrom).toISOString()).toBe('2025-12-31T23:59:00.000Z')
    expect(new Date(x509.validTo).toISOString()).toBe('2027-01-01T00:00:00.000Z')
  })

  it('serves TLS that a client trusting only it accepts for the Service name, and refuses for another', async () => {
    const { cert, key } = selfSignedCertificate([dnsName], 1)
    const server = createServer({ cert, key }, (_request, response) => response.end('ok'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const get = (servername: string) =>
      new Promise<string>((resolve, reject) => {
        const call = request({ host: '127.0.0.1', port, ca: cert, servername, agent: false }, (response) => {
          response.setEncoding('utf8')
          let body = ''
          response.on('data', (chunk: string) => (body += chunk))
          response.on('end', () => resolve(body))
        })
        call.on('error', reject)
        call.end()
      })
    try {
      expect(await get(dnsName)).toBe('ok')
      await expect(get('metrics-adapter.other.svc')).rejects.toThrow(/altnames|Hostname/i)
    } finally {
      server.close()
    }
  })
})

describe('usableCertificate', () => {
  const asSecretData = ({ cert, key }: { cert: string; key: string }) => ({
    'tls.crt': Buffer.from(cert).toString('base64'),
    'tls.key': Buffer.from(key).toString('base64'),
  })

  it('takes a certificate for the name with more than 30 days left', () => {
    const made = selfSignedCertificate([dnsName], 365)
    expect(usableCertificate(asSecretData(made), dnsName)).toEqual(made)
  })

  it('refuses one for another name, one near its end, and a Secret without both keys', () => {
    expect(usableCertificate(asSecretData(selfSignedCertificate(['x.other.svc'], 365)), dnsName)).toBeNull()
    expect(usableCertificate(asSecretData(selfSignedCertificate([dnsName], 10)), dnsName)).toBeNull()
    expect(usableCertificate({ 'tls.crt': 'eA==' }, dnsName)).toBeNull()
    expect(usableCertificate(undefined, dnsName)).toBeNull()
  })
})
