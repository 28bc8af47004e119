// Test support, used by the LeaderWorkerSet suites only. LeaderWorkerSet (sigs.k8s.io/lws) on the kwok cluster: the real CRD and the real controller,
// both from the LWS Go module at the pinned version rather than copies in this repository.
import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { parse, stringify } from 'yaml'
import { freePort } from '../../scripts/lib/workload-process.ts'
import { errorMessage } from '../../scripts/lib/errors.ts'
import { apply, isNotFound, type KubeContext } from '../../scripts/lib/kube.ts'
import { parseManifests } from '../../scripts/lib/manifests.ts'
import { pollUntil } from '../../scripts/lib/poll.ts'
import type { EmitEvent } from '../../scripts/lib/output.ts'
import { partOfLabel, PROJECT } from '../../scripts/lib/project.ts'
import { settings } from '../../scripts/lib/settings.ts'
import { makeServingCertificate } from '../../scripts/lib/build/certificates.ts'
import { applyJsonPatch, type PatchOperation } from '../../scripts/lib/json-patch.ts'
import { currentContextOnly } from '../../scripts/lib/kubeconfig.ts'
import { ensureLwsController, VERSIONS } from '../../scripts/lib/build/binaries.ts'
import { crdFrom, installCrds } from '../../scripts/lib/build/crds.ts'
import { goModuleDir } from '../../scripts/lib/build/go-module.ts'

export const LWS_MODULE = 'sigs.k8s.io/lws'
export const LWS_CRD_NAME = 'leaderworkersets.leaderworkerset.x-k8s.io'

/** The LWS module's files in the Go module cache, downloaded from the module proxy if needed. */
export const lwsModuleDir = () => goModuleDir(LWS_MODULE, VERSIONS.lws)

/** The LeaderWorkerSet CRD as upstream generates it (config/crd/bases). */
export async function lwsCrd(): Promise<KubernetesObject[]> {
  const path = join(await lwsModuleDir(), 'config', 'crd', 'bases', 'leaderworkerset.x-k8s.io_leaderworkersets.yaml')
  return [crdFrom(await readFile(path, 'utf8'), LWS_CRD_NAME, path)]
}

/** Installs the CRD with server-side apply and waits until it is Established (the API serves the kind). */
export async function installLwsCrd(kube: KubeContext, timeoutMs = 60_000): Promise<void> {
  await installCrds(kube, await lwsCrd(), timeoutMs)
}

/** Where the controller's webhook server listens, and the CA that signed its certificate. */
export interface WebhookEndpoint {
  /** `https://127.0.0.1:PORT`, no path. */
  baseUrl: string
  /** The CA certificate, PEM. */
  caPem: string
}

interface Webhook {
  name: string
  clientConfig: { service?: { path?: string }; url?: string; caBundle?: string }
}

/**
 * Upstream's webhook configurations (config/webhook/manifests.yaml, with the patches that limit
 * the pod webhooks to pods labelled with an LWS name), pointed at a controller outside the
 * cluster: each service reference becomes a URL with the same path on the endpoint, trusted
 * through its CA. The names carry the project's prefix, so nobody takes them for an installed LWS.
 */
export function labWebhookConfigurations(
  manifests: string,
  patches: { mutating: string; validating: string },
  endpoint: WebhookEndpoint,
): KubernetesObject[] {
  const patchOf: Record<string, string> = {
    MutatingWebhookConfiguration: patches.mutating,
    ValidatingWebhookConfiguration: patches.validating,
  }
  const caBundle = Buffer.from(endpoint.caPem).toString('base64')
  return parseManifests(manifests, 'config/webhook/manifests.yaml').map((object) => {
    const patch = patchOf[object.kind!]
    if (patch === undefined) throw new Error(`unexpected ${object.kind} among LWS's webhook manifests`)
    const patched = applyJsonPatch(
      object as KubernetesObject & { webhooks: Webhook[] },
      parse(patch) as PatchOperation[],
    )
    return {
      ...patched,
      metadata: { name: `${PROJECT}-lws-${object.metadata!.name}`, labels: { ...partOfLabel } },
      webhooks: patched.webhooks.map((webhook) => {
        const path = webhook.clientConfig.service?.path
        if (!path) throw new Error(`LWS webhook ${webhook.name} has no service path`)
        return { ...webhook, clientConfig: { url: endpoint.baseUrl + path, caBundle } }
      }),
    } as KubernetesObject
  })
}

/** The controller's configuration (api/config/v1alpha1): webhooks on loopback with our certificate, nothing else listening. */
export function controllerConfiguration(port: number, certDir: string): string {
  return stringify({
    apiVersion: 'config.lws.x-k8s.io/v1alpha1',
    kind: 'Configuration',
    // One controller, started and stopped by us: no lease to wait for.
    leaderElection: { leaderElect: false },
    // Its own cert management would write a Secret and patch a Service in lws-system; we bring ours.
    internalCertManagement: { enable: false },
    webhook: { host: '127.0.0.1', port, certDir },
    // "0" turns controller-runtime's metrics and health servers off.
    metrics: { bindAddress: '0' },
    health: { healthProbeBindAddress: '0' },
  })
}

/** The HTTP status the webhook server answers on a path, 0 while it doesn't answer. */
function webhookStatus(endpoint: WebhookEndpoint, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(endpoint.baseUrl + path, { ca: endpoint.caPem, timeout: 2_000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', () => resolve(0))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

/** The names of the controllers whose workers started, from the controller's JSON log lines. */
export function startedControllers(log: string): string[] {
  return log.split('\n').flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; controller?: string }
      return entry.msg === 'Starting workers' && entry.controller ? [entry.controller] : []
    } catch {
      return []
    }
  })
}

/**
 * Waits until the API server calls the new webhooks (it loads configurations asynchronously): a
 * dry-run LeaderWorkerSet comes back with the subdomain policy that only LWS's defaulting
 * webhook sets, not the CRD's schema.
 */
async function waitForLwsDefaulting(kube: KubeContext, deadline: number): Promise<void> {
  const probe = {
    apiVersion: 'leaderworkerset.x-k8s.io/v1',
    kind: 'LeaderWorkerSet',
    metadata: { name: `${PROJECT}-webhook-probe`, namespace: 'default' },
    spec: { leaderWorkerTemplate: { workerTemplate: { spec: { containers: [{ name: 'probe', image: 'probe' }] } } } },
  }
  const { held } = await pollUntil(
    async () =>
      (await apply(kube, [probe], { dryRun: true }))[0] as
        { spec?: { networkConfig?: { subdomainPolicy?: string } } } | undefined,
    (answer) => Boolean(answer?.spec?.networkConfig?.subdomainPolicy),
    { timeoutMs: deadline - Date.now(), intervalMs: 250 },
  )
  if (!held) throw new Error('the API server did not call the LWS defaulting webhook')
}

export interface LwsController {
  /** The controller's log (JSON lines); it stays after stop() so a failure can show it. */
  logFile: string
  /** Deletes the webhook configurations, then stops the process. Safe to call twice. */
  stop(): Promise<void>
}

/**
 * Runs the LWS controller as a process on this machine against the cluster of `kube`, with its
 * admission webhooks: the pod webhook is what gives LWS pods their worker-index label and the
 * LWS_* variables. The API server must reach 127.0.0.1 on this machine, so this is for the kwok
 * cluster, whose API server is a local process. The controller uses the context's credentials
 * (the cluster admin on kwok), so upstream's RBAC (config/rbac) plays no part. Installs the CRD
 * first; stop() removes the webhook configurations but leaves the CRD.
 */
export async function startLwsController(
  kube: KubeContext,
  emit: EmitEvent,
  timeoutMs = 60_000,
): Promise<LwsController> {
  const binary = await ensureLwsController(emit)
  // The controller watches LeaderWorkerSets from its first moment: without the CRD it exits.
  await installLwsCrd(kube)
  const moduleDir = await lwsModuleDir()
  const work = await mkdtemp(join(tmpdir(), 'serving-lab-lws-'))
  const port = await freePort()
  const endpoint = {
    baseUrl: `https://127.0.0.1:${port}`,
    caPem: await makeServingCertificate(work, {
      commonName: `${PROJECT} LWS webhook`,
      altNames: ['IP:127.0.0.1'],
      days: 2,
    }),
  }
  const webhookDir = join(moduleDir, 'config', 'webhook')
  const webhooks = labWebhookConfigurations(
    await readFile(join(webhookDir, 'manifests.yaml'), 'utf8'),
    {
      mutating: await readFile(join(webhookDir, 'mutating-patch.yaml'), 'utf8'),
      validating: await readFile(join(webhookDir, 'validating-patch.yaml'), 'utf8'),
    },
    endpoint,
  )
  await writeFile(join(work, 'config.yaml'), controllerConfiguration(port, work))
  await writeFile(join(work, 'kubeconfig'), currentContextOnly(kube.config), { mode: 0o600 })
  await mkdir(join(settings.cacheDir, 'logs'), { recursive: true })
  const logFile = join(settings.cacheDir, 'logs', `lws-controller-${kube.context}.log`)

  emit({
    kind: 'progress',
    message: `starting the LeaderWorkerSet controller ${VERSIONS.lws}, webhooks on ${endpoint.baseUrl}, log in ${logFile}`,
  })
  const log = openSync(logFile, 'w')
  const child = spawn(binary, ['--config', join(work, 'config.yaml'), '--zap-encoder=json'], {
    env: { ...process.env, KUBECONFIG: join(work, 'kubeconfig') },
    stdio: ['ignore', log, log],
  })
  closeSync(log)
  let exitCode: number | string | undefined
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? signal ?? 'unknown'
      resolve()
    })
    child.on('error', (error) => {
      exitCode = error.message
      resolve()
    })
  })

  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    try {
      // Webhooks first: with failurePolicy Fail, a configuration left behind without its server
      // would refuse every LeaderWorkerSet and every LWS pod.
      for (const webhook of webhooks) {
        try {
          await kube.objects.delete(webhook)
        } catch (error) {
          if (!isNotFound(error))
            throw new Error(
              `could not delete the webhook configuration ${webhook.metadata!.name}: ${errorMessage(error)}`,
              { cause: error },
            )
        }
      }
    } finally {
      if (exitCode === undefined) {
        child.kill('SIGTERM')
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(killer)
      }
      await rm(work, { recursive: true, force: true })
    }
  }

  const deadline = Date.now() + timeoutMs
  try {
    const wanted = ['leaderworkerset', 'pod']
    const { held } = await pollUntil(
      async () => {
        if (exitCode !== undefined) throw new Error(`the LWS controller exited (${exitCode}) while starting`)
        const started = startedControllers(await readFile(logFile, 'utf8'))
        // A registered webhook path answers anything but 404 to a GET (an empty review is a 400).
        return (
          wanted.every((c) => started.includes(c)) &&
          ![0, 404].includes(await webhookStatus(endpoint, '/mutate--v1-pod'))
        )
      },
      (ready) => ready,
      { timeoutMs, intervalMs: 250 },
    )
    if (!held)
      throw new Error(`the LWS controller did not start its controllers and webhooks within ${timeoutMs / 1000} s`)
    await apply(kube, webhooks)
    await waitForLwsDefaulting(kube, deadline)
  } catch (error) {
    const stopError = await stop().then(
      () => '',
      (e: unknown) => `; then ${errorMessage(e)}`,
    )
    const tail = (await readFile(logFile, 'utf8')).trimEnd().split('\n').slice(-20).join('\n')
    throw new Error(`${errorMessage(error)}${stopError}; the controller's log is ${logFile}, ending:\n${tail}`, {
      cause: error,
    })
  }
  return { logFile, stop }
}
