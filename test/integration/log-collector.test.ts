// The log collector's objects (observability/logging/fluent-bit.yaml) as the kwok cluster's API
// server admits them: schema, defaulting and Pod Security admission, in a dry run.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { apply, connect } from '../../scripts/lib/kube.ts'
import { parseManifests } from '../../scripts/lib/manifests.ts'
import { repoRoot } from '../../scripts/lib/project.ts'

const kube = connect(inject('kubeContext'))
const file = join(repoRoot, 'observability', 'logging', 'fluent-bit.yaml')

describe('Fluent Bit DaemonSet', () => {
  it('every object is admitted by the API server (server-side apply, dry run)', async () => {
    const objects = parseManifests(readFileSync(file, 'utf8'), file)
    // The namespace for real, so the namespaced objects' dry run has somewhere to go.
    const [namespace, ...rest] = objects
    expect(namespace!.kind).toBe('Namespace')
    await apply(kube, [namespace!])
    try {
      const admitted = await apply(kube, rest, { dryRun: true })
      expect(admitted.map((o) => o.kind)).toEqual([
        'ServiceAccount',
        'ClusterRole',
        'ClusterRoleBinding',
        'ConfigMap',
        'DaemonSet',
      ])
    } finally {
      await kube.core.deleteNamespace({ name: namespace!.metadata!.name! })
    }
  })
})
