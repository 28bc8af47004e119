// A self-signed serving certificate made in this process, with nothing but node:crypto: an EC
// P-256 key, and an X.509 v3 certificate written out in DER by hand (node:crypto reads
// certificates but does not make them). The certificate is its own CA: put in an APIService's
// caBundle, Go's verifier finds the very certificate it is shown among its roots.
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto'

/** One DER element: its tag, its length (short form under 128 bytes, long form above), its content. */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  const length =
    body.length < 0x80
      ? Buffer.from([body.length])
      : (() => {
          const bytes = Buffer.from(body.length.toString(16).padStart(body.length > 0xff ? 4 : 2, '0'), 'hex')
          return Buffer.concat([Buffer.from([0x80 | bytes.length]), bytes])
        })()
  return Buffer.concat([Buffer.from([tag]), length, body])
}

const sequence = (...items: Buffer[]) => der(0x30, ...items)
const set = (...items: Buffer[]) => der(0x31, ...items)
const boolean = (value: boolean) => der(0x01, Buffer.from([value ? 0xff : 0]))
const octetString = (content: Buffer) => der(0x04, content)
const utf8 = (text: string) => der(0x0c, Buffer.from(text, 'utf8'))
const explicit = (n: number, content: Buffer) => der(0xa0 + n, content)

/** A non-negative integer from its big-endian bytes: a leading zero keeps it positive. */
function integer(bytes: Buffer): Buffer {
  const trimmed = bytes.subarray(
    Math.max(
      0,
      bytes.findIndex((b) => b !== 0),
    ),
  )
  const content = trimmed.length === 0 ? Buffer.from([0]) : trimmed
  return der(0x02, content[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), content]) : content)
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number)
  const bytes = [first! * 40 + second!]
  for (const arc of rest) {
    const groups: number[] = []
    let value = arc
    do {
      groups.unshift(value & 0x7f)
      value = Math.floor(value / 128)
    } while (value > 0)
    bytes.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)))
  }
  return der(0x06, Buffer.from(bytes))
}

/** UTCTime (years before 2050), else GeneralizedTime, as RFC 5280 requires; whole seconds, UTC. */
function time(at: Date): Buffer {
  const iso = at.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
  return at.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(iso.slice(2))) : der(0x18, Buffer.from(iso))
}

const name = (commonName: string) => sequence(set(sequence(oid('2.5.4.3'), utf8(commonName))))
const extension = (id: string, critical: boolean, value: Buffer) =>
  sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value))
const ecdsaWithSha256 = sequence(oid('1.2.840.10045.4.3.2'))

export interface SelfSignedCertificate {
  /** PEM: the certificate, which is also the CA for the caBundle. */
  cert: string
  /** PEM, PKCS#8. */
  key: string
}

/** A certificate for `dnsNames` (the first is also its common name), valid from a minute ago for `days`. */
export function selfSignedCertificate(
  dnsNames: readonly string[],
  days: number,
  now = new Date(),
): SelfSignedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const subject = name(dnsNames[0]!)
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(randomBytes(16)),
    ecdsaWithSha256,
    subject, // issuer: itself
    sequence(time(new Date(now.getTime() - 60_000)), time(new Date(now.getTime() + days * 86_400_000))),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      sequence(
        // CA:TRUE, so that verifiers which chain it as a root (not only Go's) accept it.
        extension('2.5.29.19', true, sequence(boolean(true))),
        // digitalSignature and keyCertSign.
        extension('2.5.29.15', true, der(0x03, Buffer.from([0x02, 0x84]))),
        extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))), // serverAuth
        extension('2.5.29.17', false, sequence(...dnsNames.map((dns) => der(0x82, Buffer.from(dns))))),
      ),
    ),
  )
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' })
  const certificate = sequence(tbs, ecdsaWithSha256, der(0x03, Buffer.from([0]), signature))
  const cert = new X509Certificate(certificate).toString()
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }
}
