// Which of a step's pods a Prometheus configuration would scrape, worked out from the pod
// templates without a Prometheus: Kubernetes service discovery with role pod makes one target
// per container port (and one per container without ports) with __meta_kubernetes_* labels,
// the job's namespaces and label selectors filter the pods, and its relabel rules keep or drop
// targets. Only keep and drop (and the labels they read) are applied: the other actions rename
// labels, which decides nothing about whether a pod is scraped.
import { parse } from 'yaml'

/** A pod as its template describes it, running. */
export interface PodShape {
  namespace: string
  /** The workload it belongs to (a Deployment's or StatefulSet's name), for messages. */
  workload: string
  labels: Record<string, string>
  annotations: Record<string, string>
  containers: { name: string; init?: boolean; ports?: { name?: string; containerPort: number; protocol?: string }[] }[]
}

interface RelabelConfig {
  source_labels?: string[]
  separator?: string
  regex?: string
  action?: string
}

interface ScrapeConfig {
  job_name: string
  kubernetes_sd_configs?: {
    role: string
    namespaces?: { names?: string[]; own_namespace?: boolean }
    selectors?: { role: string; label?: string; field?: string }[]
  }[]
  relabel_configs?: RelabelConfig[]
}

/** A target discovered and kept: the job, the pod's workload and the port. */
export interface Target {
  job: string
  workload: string
  port: string
}

/** Prometheus's label name for a Kubernetes label or annotation key: every other character becomes `_`. */
export const sanitize = (key: string) => key.replace(/[^a-zA-Z0-9_]/g, '_')

/** The labels Kubernetes service discovery (role pod) gives each of a running pod's targets. */
export function podTargetLabels(pod: PodShape): Record<string, string>[] {
  const common: Record<string, string> = {
    __meta_kubernetes_namespace: pod.namespace,
    __meta_kubernetes_pod_phase: 'Running',
    __meta_kubernetes_pod_ready: 'true',
  }
  for (const [key, value] of Object.entries(pod.labels)) {
    common[`__meta_kubernetes_pod_label_${sanitize(key)}`] = value
    common[`__meta_kubernetes_pod_labelpresent_${sanitize(key)}`] = 'true'
  }
  for (const [key, value] of Object.entries(pod.annotations)) {
    common[`__meta_kubernetes_pod_annotation_${sanitize(key)}`] = value
    common[`__meta_kubernetes_pod_annotationpresent_${sanitize(key)}`] = 'true'
  }
  return pod.containers.flatMap((container) => {
    const base = {
      ...common,
      __meta_kubernetes_pod_container_name: container.name,
      __meta_kubernetes_pod_container_init: String(container.init ?? false),
    }
    if (!container.ports || container.ports.length === 0) return [base]
    return container.ports.map((port) => ({
      ...base,
      __meta_kubernetes_pod_container_port_name: port.name ?? '',
      __meta_kubernetes_pod_container_port_number: String(port.containerPort),
      __meta_kubernetes_pod_container_port_protocol: port.protocol ?? 'TCP',
    }))
  })
}

const describeRule = (rule: RelabelConfig, index: number) =>
  `relabel rule ${index + 1} (${rule.action} on [${(rule.source_labels ?? []).join(', ')}] =~ "${rule.regex ?? '(.*)'}")`

/**
 * The keep or drop rule that removes a target with these labels, described, or undefined when
 * the target is kept. Regexes are anchored at both ends, as Prometheus anchors them.
 */
export function droppedBy(labels: Record<string, string>, rules: readonly RelabelConfig[]): string | undefined {
  for (const [index, rule] of rules.entries()) {
    const action = rule.action ?? 'replace'
    if (action !== 'keep' && action !== 'drop') continue
    const value = (rule.source_labels ?? []).map((name) => labels[name] ?? '').join(rule.separator ?? ';')
    const matches = new RegExp(`^(?:${rule.regex ?? '(.*)'})$`).test(value)
    if ((action === 'keep' && !matches) || (action === 'drop' && matches))
      return `${describeRule(rule, index)} ${action === 'keep' ? 'does not keep' : 'drops'} "${value}"`
  }
  return undefined
}

/** `a=b,c!=d` as Prometheus's selectors write a label selector (equality terms only). */
function labelSelectorSelects(selector: string, labels: Record<string, string>): boolean {
  return selector
    .split(',')
    .map((term) => term.trim())
    .filter(Boolean)
    .every((term) => {
      const [key, value] = term.includes('!=') ? term.split('!=') : term.split(/==?/)
      if (value === undefined) return key!.trim() in labels
      return term.includes('!=') ? labels[key!.trim()] !== value.trim() : labels[key!.trim()] === value.trim()
    })
}

/** What a configuration makes of the pods: the targets it keeps, and why each port it does not keep is left out. */
export interface Discovery {
  /** Each pod-role job's namespaces; empty when it watches them all (a cluster-wide list). */
  watched: { job: string; namespaces: string[] }[]
  targets: Target[]
  leftOut: { workload: string; port: string; why: string }[]
}

/** The targets a Prometheus configuration (prometheus.yml's text) keeps among these pods, and why the others go. */
export function discover(configText: string, pods: readonly PodShape[]): Discovery {
  const config = parse(configText) as { scrape_configs?: ScrapeConfig[] } | null
  const discovery: Discovery = { watched: [], targets: [], leftOut: [] }
  for (const job of config?.scrape_configs ?? []) {
    for (const sd of job.kubernetes_sd_configs ?? []) {
      if (sd.role !== 'pod') continue
      const namespaces = sd.namespaces?.names ?? []
      const podSelectors = (sd.selectors ?? []).filter((s) => s.role === 'pod' && s.label)
      discovery.watched.push({ job: job.job_name, namespaces })
      for (const pod of pods) {
        const leave = (why: string, port = '*') => discovery.leftOut.push({ workload: pod.workload, port, why })
        if (namespaces.length > 0 && !namespaces.includes(pod.namespace)) {
          leave(`job ${job.job_name} watches the namespaces [${namespaces.join(', ')}], not ${pod.namespace}`)
          continue
        }
        const unselected = podSelectors.find((s) => !labelSelectorSelects(s.label!, pod.labels))
        if (unselected) {
          leave(`job ${job.job_name}'s selector ${unselected.label} does not select its labels`)
          continue
        }
        for (const labels of podTargetLabels(pod)) {
          const port = labels.__meta_kubernetes_pod_container_port_name || labels.__meta_kubernetes_pod_container_name!
          const why = droppedBy(labels, job.relabel_configs ?? [])
          if (why) leave(`job ${job.job_name}'s ${why}`, port)
          else discovery.targets.push({ job: job.job_name, workload: pod.workload, port })
        }
      }
    }
  }
  return discovery
}
