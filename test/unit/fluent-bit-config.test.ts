// The log collector's configuration, checked without a Fluent Bit binary (none is packaged for
// this machine): it reads the files the kubelet writes for the lab's pods and no others, its
// filter sees what its input tags, the workloads' JSON is merged, and the DaemonSet mounts what
// the configuration names. The API server's view of the objects: test/integration/log-collector.test.ts.
import { readFileSync } from 'node:fs'
import { join, matchesGlob } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { parseManifests } from '../../scripts/lib/manifests.ts'
import { repoRoot } from '../../scripts/lib/project.ts'

const file = join(repoRoot, 'observability', 'logging', 'fluent-bit.yaml')
const objects = parseManifests(readFileSync(file, 'utf8'), file)
const configMap = objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }
const daemonSet = objects.find((o) => o.kind === 'DaemonSet') as unknown as {
  spec: {
    template: {
      spec: {
        containers: { args: string[]; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[]
        volumes: { name: string; hostPath?: { path: string }; configMap?: { name: string } }[]
      }
    }
  }
}
type Plugin = Record<string, string>
const config = parse(configMap.data['fluent-bit.yaml']!) as {
  pipeline: { inputs: Plugin[]; filters: Plugin[]; outputs: Plugin[] }
}
const tail = config.pipeline.inputs.find((i) => i.name === 'tail')!
const kubernetesFilter = config.pipeline.filters.find((f) => f.name === 'kubernetes')!

/** The tag tail gives a file: its tag's `*` becomes the path with slashes as dots. */
const tagOf = (path: string) => tail.tag!.replace('*', path.replaceAll('/', '.').replace(/^\./, ''))
const tagMatches = (match: string, tag: string) =>
  new RegExp(`^${match.replaceAll('.', '\\.').replaceAll('*', '.*')}$`).test(tag)

const id = 'a'.repeat(64)
const labPod = `/var/log/containers/llama-a-0_lab-06_model-server-${id}.log`

describe('Fluent Bit configuration', () => {
  it("tails the kubelet's files of the lab's namespaces, and no others", () => {
    expect(matchesGlob(labPod, tail.path!)).toBe(true)
    expect(matchesGlob(`/var/log/containers/frontend-5d8c_lab-08_frontend-${id}.log`, tail.path!)).toBe(true)
    expect(matchesGlob(`/var/log/containers/coredns-x_kube-system_coredns-${id}.log`, tail.path!)).toBe(false)
  })

  it('reads CRI log lines, as containerd writes them, and merges their JSON into the record', () => {
    expect(tail['multiline.parser']).toMatch(/\bcri\b/)
    expect(String(kubernetesFilter.merge_log)).toMatch(/^(on|true)$/)
  })

  it('the kubernetes filter and the outputs match what tail tags, and the prefix strips to the file name', () => {
    const tag = tagOf(labPod)
    expect(tagMatches(kubernetesFilter.match!, tag)).toBe(true)
    for (const output of config.pipeline.outputs) expect(tagMatches(output.match!, tag)).toBe(true)
    expect(tag.startsWith(kubernetesFilter.kube_tag_prefix!)).toBe(true)
    expect(tag.slice(kubernetesFilter.kube_tag_prefix!.length)).toBe(labPod.split('/').at(-1))
  })

  it('the DaemonSet runs this configuration and mounts the log files it tails', () => {
    const { containers, volumes } = daemonSet.spec.template.spec
    const [container] = containers
    const configPath = container!.args[container!.args.indexOf('-c') + 1]!
    const configMount = container!.volumeMounts.find((m) => configPath.startsWith(`${m.mountPath}/`))!
    expect(volumes.find((v) => v.name === configMount.name)?.configMap?.name).toBe('fluent-bit')
    expect(Object.keys(configMap.data)).toContain(configPath.split('/').at(-1))
    const logMount = container!.volumeMounts.find((m) => tail.path!.startsWith(`${m.mountPath}/`))!
    expect(logMount.readOnly).toBe(true)
    expect(volumes.find((v) => v.name === logMount.name)?.hostPath?.path).toBe(logMount.mountPath)
  })
})
