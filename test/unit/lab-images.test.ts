import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { prometheusContentReference, prometheusImageDir } from '../../scripts/lib/build/prometheus-image.ts'
import { PROMETHEUS_IMAGE } from '../../scripts/lib/build/prometheus.ts'
import { IMAGE } from '../../scripts/lib/image.ts'
import { imagesNamed, onNodes, otherImagesNamed } from '../../scripts/lib/lab-images.ts'
import { readManifests } from '../../scripts/lib/manifests.ts'
import { findStep } from '../../scripts/lib/steps.ts'

const bytes = (text: string) => new TextEncoder().encode(text)

describe('the images a step names', () => {
  it("are found in any pod spec: a Deployment's template, an LWS's leader and worker templates, a Pod's init containers", () => {
    const objects = [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'a' },
        spec: { template: { spec: { containers: [{ name: 'a', image: 'one:1' }] } } },
      },
      {
        apiVersion: 'leaderworkerset.x-k8s.io/v1',
        kind: 'LeaderWorkerSet',
        metadata: { name: 'b' },
        spec: {
          leaderWorkerTemplate: {
            leaderTemplate: { spec: { containers: [{ name: 'l', image: 'two:2' }] } },
            workerTemplate: { spec: { containers: [{ name: 'w', image: 'one:1' }] } },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'c' },
        spec: { initContainers: [{ name: 'i', image: 'three:3' }], containers: [{ name: 'c', image: 'two:2' }] },
      },
    ]
    expect(imagesNamed(objects)).toEqual(['one:1', 'three:3', 'two:2'])
  })

  it("step 08 names the lab's Prometheus beside the workload image, so it is built and loaded; step 07 names none", async () => {
    const step08 = await readManifests((await findStep('08')).dir)
    expect(imagesNamed(step08)).toEqual([IMAGE, PROMETHEUS_IMAGE].sort())
    expect(otherImagesNamed(step08)).toEqual([PROMETHEUS_IMAGE])
    expect(otherImagesNamed(await readManifests((await findStep('07')).dir))).toEqual([])
  })
})

describe('onNodes', () => {
  const image = { reference: 'lab/x:1.0', contentReference: 'lab/x:abc', built: false }

  it('counts an image as loaded only by its content tag, with or without the registry the nodes add', () => {
    expect(onNodes(['docker.io/lab/x:abc'], image)).toBe(true)
    expect(onNodes(['lab/x:abc'], image)).toBe(true)
    expect(onNodes(['docker.io/lab/x:1.0', 'docker.io/lab/x:def'], image)).toBe(false)
  })
})

describe("the Prometheus image's sources", () => {
  it('tag the content with the release the manifests name, and a hash that follows the binary', () => {
    const dockerfile = { path: 'images/prometheus/Dockerfile', bytes: bytes('FROM scratch') }
    const tag = prometheusContentReference([dockerfile, { path: 'prometheus', bytes: bytes('build 1') }])
    expect(tag).toMatch(new RegExp(`^${PROMETHEUS_IMAGE.replaceAll('.', '\\.')}-[0-9a-f]{12}$`))
    expect(prometheusContentReference([dockerfile, { path: 'prometheus', bytes: bytes('build 2') }])).not.toBe(tag)
  })

  it('start from nothing and run as the user step 08 runs Prometheus as', async () => {
    const dockerfile = await readFile(join(prometheusImageDir, 'Dockerfile'), 'utf8')
    expect(dockerfile).toMatch(/^FROM scratch$/m)
    const deployment = await readFile(join((await findStep('08')).dir, '80-prometheus.yaml'), 'utf8')
    const user = /runAsUser: (\d+)/.exec(deployment)![1]
    expect(dockerfile).toMatch(new RegExp(`^USER ${user}:${user}$`, 'm'))
  })
})
