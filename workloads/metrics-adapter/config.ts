import {
  ConfigError,
  connectionLimitDefaults,
  listenSettings,
  serverSettings,
  rangeRules,
  loadSettings,
  usageOf,
  validateServerSettings,
  type ConnectionLimitsConfig,
  type Setting,
} from '../shared/config.ts'

export interface MetricsAdapterConfig extends ConnectionLimitsConfig {
  port: number
  host: string
  /** The serving certificate the aggregator verifies against the APIService's caBundle, and its key (PEM files). */
  tlsCertFile: string
  tlsKeyFile: string
  /** Given, the certificate is kept in this Secret instead, made by the adapter if missing, and trusted through `apiService`'s caBundle. */
  certificateSecret: string
  /** The APIService whose caBundle the adapter sets to its certificate; empty: none. */
  apiService: string
  /** The Service the APIService names, for the certificate's name `<service>.<namespace>.svc`. */
  serviceName: string
  /** The adapter's own namespace (the Secret's, the Service's). */
  namespace: string
  /** The EndpointSlice port whose `/metrics` is scraped: a name, or digits for a number. */
  scrapePort: string
  scrapeTimeoutMs: number
  /** How often the kube-system/extension-apiserver-authentication ConfigMap is read again (its CAs rotate). */
  authenticationRefreshMs: number
  /** How long a SubjectAccessReview's answer is reused for the same user, namespace and metric. */
  authorizationCacheMs: number
  maxRequestBodyBytes: number
  drainTimeoutMs: number
  logLevel: string
}

/** Every default in one place; environment variables override them, flags override both. */
export const defaults: MetricsAdapterConfig = {
  port: 6443,
  host: '0.0.0.0',
  tlsCertFile: '/var/run/serving-lab/tls/tls.crt',
  tlsKeyFile: '/var/run/serving-lab/tls/tls.key',
  certificateSecret: '',
  apiService: '',
  serviceName: 'metrics-adapter',
  namespace: '',
  scrapePort: 'http',
  scrapeTimeoutMs: 2000,
  authenticationRefreshMs: 60_000,
  authorizationCacheMs: 10_000,
  maxRequestBodyBytes: 64 * 1024,
  drainTimeoutMs: 5000,
  ...connectionLimitDefaults,
  logLevel: 'info',
}

export const settings: readonly Setting<MetricsAdapterConfig>[] = [
  ...listenSettings<MetricsAdapterConfig>(),
  {
    field: 'tlsCertFile',
    flag: 'tls-cert-file',
    env: 'TLS_CERT_FILE',
    kind: 'string',
    description:
      "PEM serving certificate, for the name <service>.<namespace>.svc, signed by the CA in the APIService's caBundle",
  },
  {
    field: 'tlsKeyFile',
    flag: 'tls-key-file',
    env: 'TLS_KEY_FILE',
    kind: 'string',
    description: 'PEM private key of the serving certificate',
  },
  {
    field: 'certificateSecret',
    flag: 'certificate-secret',
    env: 'CERTIFICATE_SECRET',
    kind: 'string',
    description:
      'A TLS Secret in --namespace to keep the serving certificate in, made self-signed by the adapter when missing; empty: the files above',
  },
  {
    field: 'apiService',
    flag: 'apiservice',
    env: 'APISERVICE',
    kind: 'string',
    description:
      'The APIService whose caBundle the adapter sets to its certificate (with --certificate-secret); empty: none',
  },
  {
    field: 'serviceName',
    flag: 'service-name',
    env: 'SERVICE_NAME',
    kind: 'string',
    description: 'The Service the APIService names: the certificate is made for <service>.<namespace>.svc',
  },
  {
    field: 'namespace',
    flag: 'namespace',
    env: 'POD_NAMESPACE',
    kind: 'string',
    description: "The adapter's namespace, the Secret's and the Service's; in a pod, from the downward API",
  },
  {
    field: 'scrapePort',
    flag: 'scrape-port',
    env: 'SCRAPE_PORT',
    kind: 'string',
    description: "The EndpointSlice port whose /metrics is read, by name (the Service port's name) or number",
  },
  {
    field: 'scrapeTimeoutMs',
    flag: 'scrape-timeout-ms',
    env: 'SCRAPE_TIMEOUT_MS',
    kind: 'integer',
    description: "Milliseconds a pod's /metrics may take to answer; a slower pod is left out of the value",
  },
  {
    field: 'authenticationRefreshMs',
    flag: 'authentication-refresh-ms',
    env: 'AUTHENTICATION_REFRESH_MS',
    kind: 'integer',
    description:
      'Milliseconds between reads of the kube-system/extension-apiserver-authentication ConfigMap (the client CAs)',
  },
  {
    field: 'authorizationCacheMs',
    flag: 'authorization-cache-ms',
    env: 'AUTHORIZATION_CACHE_MS',
    kind: 'integer',
    description: "Milliseconds a SubjectAccessReview's answer is reused for the same user, namespace and metric",
  },
  ...serverSettings<MetricsAdapterConfig>(),
]

export { ConfigError }

/** Defaults, then environment variables, then flags; then validated. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): MetricsAdapterConfig {
  return loadSettings(defaults, settings, argv, env, usage, validateConfig)
}

/** Every rule the configuration breaks, one message each, naming the field; empty when valid. */
export function validateConfig(config: MetricsAdapterConfig): string[] {
  const errors: string[] = []
  const { integerIn } = rangeRules(config, errors)
  integerIn('port', 0, 65535)
  for (const field of ['host', 'tlsCertFile', 'tlsKeyFile', 'scrapePort', 'serviceName'] as const)
    if (config[field] === '') errors.push(`${field} must not be empty`)
  if (config.certificateSecret !== '' && config.namespace === '')
    errors.push('namespace must not be empty with --certificate-secret: --namespace NS, or POD_NAMESPACE')
  if (config.apiService !== '' && config.certificateSecret === '')
    errors.push('apiService needs --certificate-secret: the adapter sets the caBundle only to a certificate it keeps')
  integerIn('scrapeTimeoutMs', 1, 60_000)
  integerIn('authenticationRefreshMs', 1000)
  integerIn('authorizationCacheMs', 0)
  validateServerSettings(config, errors)
  return errors
}

/** Every setting with its variables, default and description, for `--help` and flag errors. */
export function usage(): string {
  return usageOf(
    'usage: metrics-adapter [flags]   (external.metrics.k8s.io/v1beta1 over TLS, behind an APIService)',
    defaults,
    settings,
  )
}
