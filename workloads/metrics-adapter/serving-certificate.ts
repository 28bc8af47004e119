// The adapter's serving certificate, kept in a Secret and trusted through the APIService's
// caBundle, both written by the adapter itself: what KEDA's operator does for its metrics server
// (its cert-controller), and cert-manager's CA injector for others. So the step's manifests apply
// as they are, in any namespace: the certificate names the Service in the namespace the adapter
// runs in, which no certificate committed with the manifests could.
import { X509Certificate } from 'node:crypto'
import { ApiregistrationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node'
import { selfSignedCertificate, type SelfSignedCertificate } from './self-signed.ts'

export interface CertificatePlace {
  namespace: string
  /** The Service the APIService names: the certificate is for `<service>.<namespace>.svc`. */
  service: string
  secret: string
  /** The APIService whose caBundle must trust the certificate; empty: none. */
  apiService: string
}

const VALID_DAYS = 365
/** A certificate closer than this to its end is replaced at start. */
const RENEW_BEFORE_MS = 30 * 86_400_000

const statusOf = (error: unknown) => (error as { code?: number }).code

/** The Secret's certificate when it is for `dnsName` and not near its end; null otherwise. */
export function usableCertificate(
  data: Record<string, string> | undefined,
  dnsName: string,
  now = new Date(),
): SelfSignedCertificate | null {
  const cert = data?.['tls.crt'] && Buffer.from(data['tls.crt'], 'base64').toString('utf8')
  const key = data?.['tls.key'] && Buffer.from(data['tls.key'], 'base64').toString('utf8')
  if (!cert || !key) return null
  try {
    const x509 = new X509Certificate(cert)
    if (x509.checkHost(dnsName) !== dnsName) return null
    if (new Date(x509.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return null
    return { cert, key }
  } catch {
    return null
  }
}

/**
 * The certificate to serve with: the Secret's if usable, else a new one written to the Secret
 * (created, or replaced; when replicas race to create it, the loser reads the winner's). Then
 * the APIService's caBundle is set to it.
 */
export async function provideServingCertificate(kubeConfig: KubeConfig, place: CertificatePlace) {
  const core = kubeConfig.makeApiClient(CoreV1Api)
  const { namespace, secret: name } = place
  const dnsName = `${place.service}.${namespace}.svc`
  const existing = await core.readNamespacedSecret({ name, namespace }).catch((error: unknown) => {
    if (statusOf(error) === 404) return null
    throw error
  })
  let certificate = usableCertificate(existing?.data, dnsName)
  if (!certificate) {
    const made = selfSignedCertificate([dnsName, `${dnsName}.cluster.local`], VALID_DAYS)
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name, namespace, resourceVersion: existing?.metadata?.resourceVersion },
      data: {
        'tls.crt': Buffer.from(made.cert).toString('base64'),
        'tls.key': Buffer.from(made.key).toString('base64'),
      },
    }
    try {
      if (existing) await core.replaceNamespacedSecret({ name, namespace, body })
      else await core.createNamespacedSecret({ namespace, body })
      certificate = made
    } catch (error) {
      if (statusOf(error) !== 409) throw error
      // Another replica wrote it first: serve the same certificate.
      certificate = usableCertificate((await core.readNamespacedSecret({ name, namespace })).data, dnsName)
      if (!certificate)
        throw new Error(`Secret ${namespace}/${name} changed under us and holds no usable certificate`, {
          cause: error,
        })
    }
  }
  if (place.apiService) {
    const caBundle = Buffer.from(certificate.cert).toString('base64')
    const apiServices = kubeConfig.makeApiClient(ApiregistrationV1Api)
    const current = await apiServices.readAPIService({ name: place.apiService })
    if (current.spec?.caBundle !== caBundle)
      await apiServices.patchAPIService({
        name: place.apiService,
        body: [{ op: 'add', path: '/spec/caBundle', value: caBundle }],
      })
  }
  return certificate
}
