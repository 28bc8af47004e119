// What a backup keeps of a namespace, and how each object is cleaned so that server-side apply
// takes it back on any cluster: what the API server or a controller writes (uid, status, a
// Service's cluster IP, a claim's bound volume) is left out and made again on restore.
import type { KubernetesObject } from '@kubernetes/client-node'
import type { ResourceType } from './api-discovery.ts'

/**
 * Resource types a backup never lists, each with why: the cluster makes their objects itself
 * from the objects the backup keeps, or they record what happened rather than what should be.
 */
const SKIPPED_TYPES: Record<string, string> = {
  '/events': 'a record of what happened, not state to bring back',
  'events.k8s.io/events': 'a record of what happened, not state to bring back',
  '/endpoints': "written by the endpoints controller from each Service's selector",
  'discovery.k8s.io/endpointslices': "written by the EndpointSlice controller from each Service's selector",
  'apps/controllerrevisions': "a StatefulSet's or DaemonSet's history, written by its controller",
  'storage.k8s.io/csistoragecapacities': 'published by CSI drivers about their storage',
  'authorization.k8s.io/localsubjectaccessreviews': 'a question to the API server, never stored',
}

/** The metrics APIs (metrics-server's, a metrics adapter's) compute values when asked; they store nothing. */
const METRICS_GROUPS = ['metrics.k8s.io', 'custom.metrics.k8s.io', 'external.metrics.k8s.io']

/** Why a backup leaves a whole resource type out, or undefined when it lists it. */
export function skippedTypeReason(type: Pick<ResourceType, 'group' | 'resource'>): string | undefined {
  if (METRICS_GROUPS.includes(type.group)) return 'a metrics API: values computed when asked, not stored objects'
  return SKIPPED_TYPES[`${type.group}/${type.resource}`]
}

/** What a backup knows of the step beyond the object: the Leases its manifests declare. */
export interface StepDeclarations {
  /** Names of the Leases the step's manifests create (step 05's coordinator Lease). */
  leases: ReadonlySet<string>
}

/** Why a backup leaves this object out, or undefined when it keeps it. */
export function skippedObjectReason(object: KubernetesObject, declared: StepDeclarations): string | undefined {
  const { kind } = object
  const name = object.metadata?.name ?? ''
  const controller = object.metadata?.ownerReferences?.find((owner) => owner.controller)
  // A Deployment's ReplicaSets, a StatefulSet's pods, a Service's EndpointSlices: the owner, kept, makes them again.
  if (controller) return `made by its controller ${controller.kind}/${controller.name}`
  if (kind === 'Lease' && !declared.leases.has(name))
    return "a leader election's lease, created by its candidates when they start"
  if (kind === 'ServiceAccount' && name === 'default') return 'made in every namespace by the ServiceAccount controller'
  if (kind === 'ConfigMap' && name === 'kube-root-ca.crt') return "the cluster's CA, published into every namespace"
  if (kind === 'Secret' && (object as { type?: string }).type === 'kubernetes.io/service-account-token')
    return 'a ServiceAccount token, issued by the token controller for this cluster only'
  return undefined
}

/** Metadata the API server writes: it would refuse or misread them on another cluster. */
const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  // Owners are matched by uid, which a restore changes: the garbage collector would delete the object.
  'ownerReferences',
]

/** Annotations written by controllers about this cluster (a claim's bound volume, a Deployment's revision). */
const CLUSTER_ANNOTATION = [
  /^pv\.kubernetes\.io\//,
  /^volume\.(beta\.)?kubernetes\.io\//,
  /^deployment\.kubernetes\.io\/revision$/,
  /^kubectl\.kubernetes\.io\/last-applied-configuration$/,
]

type Json = Record<string, unknown>
const asJson = (value: unknown) => (value ?? {}) as Json

/** The object as it must be before server-side apply takes it back; the original is left as it is. */
export function cleanObject(object: KubernetesObject): KubernetesObject {
  const copy = structuredClone(object) as Json
  delete copy.status
  const metadata = asJson(copy.metadata)
  for (const field of SERVER_METADATA) delete metadata[field]
  const annotations = asJson(metadata.annotations)
  for (const key of Object.keys(annotations))
    if (CLUSTER_ANNOTATION.some((pattern) => pattern.test(key))) delete annotations[key]
  if (Object.keys(annotations).length === 0) delete metadata.annotations
  const spec = copy.spec as Json | undefined
  switch (object.kind) {
    case 'Namespace':
      // The API server sets both: the name label for selectors, the `kubernetes` finalizer for its cleanup.
      delete asJson(metadata.labels)['kubernetes.io/metadata.name']
      delete copy.spec
      break
    case 'Service':
      if (spec) cleanService(spec)
      break
    case 'PersistentVolumeClaim':
      // The volume it was bound to belongs to the old cluster; the claim binds a new one.
      if (spec) delete spec.volumeName
      break
    case 'Pod':
      if (spec) cleanPod(spec)
      break
    case 'Lease':
      // The holder and its times belong to pods that are gone; the transitions count is the
      // fencing token, kept so that it never goes back.
      if (spec) copy.spec = spec.leaseTransitions === undefined ? {} : { leaseTransitions: spec.leaseTransitions }
      break
  }
  return copy as KubernetesObject
}

function cleanService(spec: Json): void {
  // Allocated by the API server; a headless Service's "None" is what the Service is, and stays.
  if (spec.clusterIP !== 'None') {
    delete spec.clusterIP
    delete spec.clusterIPs
  }
  // Node ports are allocated cluster-wide: a copy beside the original would collide with them.
  delete spec.healthCheckNodePort
  for (const port of (spec.ports ?? []) as Json[]) delete port.nodePort
}

function cleanPod(spec: Json): void {
  // The scheduler picks a node again; the old one may be gone.
  delete spec.nodeName
  // The ServiceAccount admission plugin adds the token volume again, under a new name.
  const injected = (volume: Json) => typeof volume.name === 'string' && volume.name.startsWith('kube-api-access-')
  const names = new Set(((spec.volumes ?? []) as Json[]).filter(injected).map((volume) => volume.name))
  if (spec.volumes) spec.volumes = (spec.volumes as Json[]).filter((volume) => !injected(volume))
  for (const field of ['containers', 'initContainers'])
    for (const container of (spec[field] ?? []) as Json[])
      if (container.volumeMounts)
        container.volumeMounts = (container.volumeMounts as Json[]).filter((mount) => !names.has(mount.name))
}

/**
 * The order a restore applies kinds in: what others refer to first (the namespace, accounts,
 * secrets, configuration, RBAC, Services), workloads after, an APIService last (its Service must exist).
 */
const APPLY_ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'PriorityClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'Role',
  'RoleBinding',
  'ResourceQuota',
  'LimitRange',
  'NetworkPolicy',
  'Service',
  'PersistentVolumeClaim',
  'Lease',
]
const LAST = [
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
  'Pod',
  'HorizontalPodAutoscaler',
  'APIService',
]

/** The objects sorted for applying: by APPLY_ORDER, other kinds next, workloads and APIServices last; stable within a kind. */
export function inApplyOrder(objects: readonly KubernetesObject[]): KubernetesObject[] {
  const rank = (kind = '') => {
    const first = APPLY_ORDER.indexOf(kind)
    if (first >= 0) return first
    const last = LAST.indexOf(kind)
    return last >= 0 ? APPLY_ORDER.length + 1 + last : APPLY_ORDER.length
  }
  return objects
    .map((object, index) => ({ object, index }))
    .sort((a, b) => rank(a.object.kind) - rank(b.object.kind) || a.index - b.index)
    .map(({ object }) => object)
}
