// Prometheus and promtool at the pinned version, built from the Go module proxy with Kubernetes
// service discovery and no other optional one: step 08's prometheus.yml finds pods with
// `kubernetes_sd_configs`, which Debian's package leaves out. Prometheus's own build tags do the
// choosing (plugins/plugin_*.go in the module): `remove_all_sd` drops every optional discovery,
// `enable_kubernetes_sd` brings Kubernetes back; static, file and HTTP discovery are always in.
// No `builtinassets`: the module ships the web UI's sources, not its built files, so this
// Prometheus serves its HTTP API and no UI pages.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { EmitEvent } from '../output.ts'
import { binDir, ensureModuleBinary, toolsGo, VERSIONS } from './binaries.ts'

export const PROMETHEUS_MODULE = 'github.com/prometheus/prometheus'
export const PROMETHEUS_BUILD_TAGS = ['remove_all_sd', 'enable_kubernetes_sd']
export type PrometheusTool = 'prometheus' | 'promtool'

/** The Prometheus release of a module version: the proxy's v0.316.0 is Prometheus 3.16.0. */
export function prometheusRelease(moduleVersion: string): string {
  const match = /^v0\.(\d+)\.(\d+)$/.exec(moduleVersion)
  if (!match) throw new Error(`${moduleVersion} is not a Prometheus module version (v0.MNN.P)`)
  const number = Number(match[1])
  return `${Math.floor(number / 100)}.${number % 100}.${match[2]}`
}

/**
 * The image step 08's Deployment names: this build of Prometheus on a small base, made and loaded
 * into the cluster like the workloads' image (on kwok no container runs, so none is needed).
 */
export const PROMETHEUS_IMAGE = `serving-lab.local/prometheus:${prometheusRelease(VERSIONS.prometheus)}`

const group = () => `prometheus-v${prometheusRelease(VERSIONS.prometheus)}`

/** Where the built program is cached (`~/.cache/multi-node-serving-lab/bin/prometheus-v3.16.0/`). */
export const builtPrometheusPath = (tool: PrometheusTool) => join(binDir(group()), tool)

/** The built program if it is in the cache; nothing is built. */
export function cachedPrometheusTool(tool: PrometheusTool): string | undefined {
  const path = builtPrometheusPath(tool)
  return existsSync(path) ? path : undefined
}

/** `-X` flags for `--version`, as upstream's release build (.promu.yml) stamps them, less the git details. */
export function prometheusLdflags(buildDate = new Date()): string {
  const stamp = buildDate.toISOString().replace(/^(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d:\d\d).*$/, '$1$2$3-$4')
  const pkg = 'github.com/prometheus/common/version'
  return `-X ${pkg}.Version=${prometheusRelease(VERSIONS.prometheus)} -X ${pkg}.BuildDate=${stamp} -X ${pkg}.BuildUser=serving-lab`
}

/**
 * prometheus and promtool: from the cache, else built once into it (one Go build cache with the
 * lab's other builds). Its go.mod has no replace directives, so a module that requires it builds
 * both commands as they are.
 */
export async function ensurePrometheus(emit: EmitEvent): Promise<Record<PrometheusTool, string>> {
  const commands = [`${PROMETHEUS_MODULE}/cmd/prometheus`, `${PROMETHEUS_MODULE}/cmd/promtool`]
  await ensureModuleBinary(
    builtPrometheusPath('prometheus'),
    `Prometheus ${prometheusRelease(VERSIONS.prometheus)} (with Kubernetes service discovery)`,
    {
      group: group(),
      files: {
        'go.mod': `module serving-lab.local/prometheus-binaries\n\ngo 1.26.7\n\nrequire ${PROMETHEUS_MODULE} ${VERSIONS.prometheus}\n`,
        'tools.go': toolsGo(commands),
      },
      packages: commands,
      tags: PROMETHEUS_BUILD_TAGS,
      ldflags: prometheusLdflags(),
      coldEstimate: 'about 5 min on 2 cores',
      minimumGo: '1.26.7',
    },
    emit,
  )
  return { prometheus: builtPrometheusPath('prometheus'), promtool: builtPrometheusPath('promtool') }
}
