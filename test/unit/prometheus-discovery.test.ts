// Which pods a scrape configuration keeps, worked out from pod templates: the labels Kubernetes
// service discovery gives a pod's targets, keep and drop anchored as Prometheus anchors them, and
// the lab's own prometheus.yml on pods that should and should not be scraped.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../../scripts/lib/project.ts'
import {
  discover,
  droppedBy,
  podTargetLabels,
  sanitize,
  type PodShape,
} from '../../scripts/lib/prometheus-discovery.ts'

const config = await readFile(join(repoRoot, 'observability/monitoring/prometheus.yml'), 'utf8')
const lab = { 'app.kubernetes.io/part-of': 'multi-node-serving-lab', 'app.kubernetes.io/component': 'frontend' }
const pod = (over: Partial<PodShape> = {}): PodShape => ({
  namespace: 'lab-08',
  workload: 'frontend',
  labels: lab,
  annotations: {},
  containers: [
    {
      name: 'frontend',
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'grpc', containerPort: 9000 },
      ],
    },
  ],
  ...over,
})

describe('the labels of discovered targets', () => {
  it('names Kubernetes keys as Prometheus does', () => {
    expect(sanitize('app.kubernetes.io/part-of')).toBe('app_kubernetes_io_part_of')
  })

  it('makes one target per container port, and one for a container without ports', () => {
    const targets = podTargetLabels(pod({ containers: [...pod().containers, { name: 'sidecar' }] }))
    expect(
      targets.map((t) => t.__meta_kubernetes_pod_container_port_name ?? t.__meta_kubernetes_pod_container_name),
    ).toEqual(['http', 'grpc', 'sidecar'])
    expect(targets[0]).toMatchObject({
      __meta_kubernetes_pod_label_app_kubernetes_io_component: 'frontend',
      __meta_kubernetes_pod_container_port_number: '8080',
      __meta_kubernetes_pod_container_init: 'false',
      __meta_kubernetes_pod_phase: 'Running',
    })
  })
})

describe('keep and drop', () => {
  const keepHttp = [{ source_labels: ['port'], regex: 'http', action: 'keep' }]
  it('anchors the regex at both ends', () => {
    expect(droppedBy({ port: 'http' }, keepHttp)).toBeUndefined()
    expect(droppedBy({ port: 'https' }, keepHttp)).toMatch(/relabel rule 1 .* does not keep "https"/)
  })

  it('joins the source labels with the separator and reads a missing label as empty', () => {
    const rules = [{ source_labels: ['a', 'b'], regex: 'x;', action: 'drop' }]
    expect(droppedBy({ a: 'x' }, rules)).toMatch(/drops "x;"/)
    expect(droppedBy({ a: 'x', b: 'y' }, rules)).toBeUndefined()
  })

  it('leaves the other actions alone', () => {
    expect(droppedBy({}, [{ source_labels: ['a'], regex: 'never', action: 'replace' }])).toBeUndefined()
  })
})

describe("the lab's prometheus.yml", () => {
  it("keeps a lab pod's http port only", () => {
    const { targets, leftOut } = discover(config, [pod()])
    expect(targets).toEqual([{ job: 'serving-lab', workload: 'frontend', port: 'http' }])
    expect(leftOut).toEqual([expect.objectContaining({ port: 'grpc' })])
  })

  it('leaves out a pod that opts out, one of another project and one in another namespace, saying why', () => {
    const optedOut = pod({ workload: 'quiet', annotations: { 'serving-lab.io/scrape': 'false' } })
    const foreign = pod({ workload: 'foreign', labels: { 'app.kubernetes.io/part-of': 'other' } })
    const elsewhere = pod({ workload: 'elsewhere', namespace: 'default' })
    const { targets, leftOut } = discover(config, [optedOut, foreign, elsewhere])
    expect(targets).toEqual([])
    expect(leftOut.find((l) => l.workload === 'quiet')?.why).toMatch(/drops "false"/)
    expect(leftOut.find((l) => l.workload === 'foreign')?.why).toMatch(/selector .* does not select/)
    expect(leftOut.find((l) => l.workload === 'elsewhere')?.why).toMatch(/not default/)
  })
})
