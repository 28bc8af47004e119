import { DaemonSet, type IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet'
import { RuntimeClass, type IRuntimeClass } from 'kubernetes-models/node.k8s.io/v1/RuntimeClass'
import { describe, expect, it } from 'vitest'
import {
  DEVICE_PLUGIN_IMAGE,
  devicePluginManifests,
  HOST_REQUIREMENTS,
  missingHostSetup,
  topLevelTomlBoolean,
  VOLUME_MOUNTS_KEY,
  workerSetupCommands,
} from '../../scripts/lib/cluster/kind/gpu.ts'
import { fleetNodes, LABELS, loadTopology } from '../../scripts/lib/cluster/topology.ts'

// The toolkit's config file as the toolkit writes it, with the key at its default and after
// `nvidia-ctk config --set accept-nvidia-visible-devices-as-volume-mounts=true --in-place`.
const toolkitConfig = (volumeMounts: boolean) => `
#accept-nvidia-visible-devices-envvar-when-unprivileged = true
accept-nvidia-visible-devices-as-volume-mounts = ${volumeMounts}
disable-require = false

[nvidia-container-cli]
environment = []
ldconfig = "@/sbin/ldconfig.real"

[nvidia-container-runtime]
log-level = "info"
mode = "auto"
runtimes = ["docker-runc", "runc", "crun"]
`

describe('host requirements for passthrough', () => {
  it('none missing when docker defaults to nvidia and the toolkit accepts device lists as mounts', () => {
    expect(missingHostSetup({ dockerDefaultRuntime: 'nvidia\n', toolkitConfig: toolkitConfig(true) })).toEqual([])
  })

  it('names each missing piece, with the commands that fix it', () => {
    const missing = missingHostSetup({ dockerDefaultRuntime: 'runc', toolkitConfig: toolkitConfig(false) })
    expect(missing.map((r) => r.id)).toEqual(['docker-default-runtime', 'volume-mounts'])
    expect(missing[0]!.fix).toContain('sudo nvidia-ctk runtime configure --runtime=docker --set-as-default')
    expect(missing[1]!.fix).toContain(`sudo nvidia-ctk config --set ${VOLUME_MOUNTS_KEY}=true --in-place`)
  })

  it('without the toolkit, everything is missing', () => {
    expect(missingHostSetup({ dockerDefaultRuntime: '', toolkitConfig: undefined }).map((r) => r.id)).toEqual([
      'toolkit',
      'docker-default-runtime',
      'volume-mounts',
    ])
    expect(HOST_REQUIREMENTS.toolkit.what).toContain('/etc/nvidia-container-runtime/config.toml')
  })

  it('reads the key at the top level only: commented out or under a table does not count', () => {
    expect(topLevelTomlBoolean(toolkitConfig(true), VOLUME_MOUNTS_KEY)).toBe(true)
    expect(topLevelTomlBoolean(`#${VOLUME_MOUNTS_KEY} = true\n`, VOLUME_MOUNTS_KEY)).toBeUndefined()
    expect(
      topLevelTomlBoolean(`[nvidia-container-cli]\n${VOLUME_MOUNTS_KEY} = true\n`, VOLUME_MOUNTS_KEY),
    ).toBeUndefined()
    expect(topLevelTomlBoolean(`"${VOLUME_MOUNTS_KEY}" = true # set by hand\n`, VOLUME_MOUNTS_KEY)).toBe(true)
  })
})

describe('worker setup commands', () => {
  const commands = workerSetupCommands()
  const lines = commands.map((argv) => argv.join(' '))
  const indexOf = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line))

  it('are argv arrays for docker exec, shell only where a pipe needs one, failing on any error', () => {
    for (const argv of commands) {
      expect(argv.length).toBeGreaterThan(0)
      expect(argv.every((arg) => typeof arg === 'string' && arg.length > 0)).toBe(true)
      if (argv[0] === 'bash') {
        expect(argv).toHaveLength(3)
        expect(argv[1]).toBe('-c')
        expect(argv[2]).toMatch(/^set -euo pipefail; /)
      }
    }
  })

  it("install the toolkit from NVIDIA's signed apt repository, then make nvidia containerd's default runtime", () => {
    const key = indexOf(/gpgkey \| gpg --dearmor/)
    const list = indexOf(/nvidia-container-toolkit\.list \| sed .*signed-by=/)
    const install = indexOf(/apt-get install .*nvidia-container-toolkit$/)
    const configure = lines.indexOf('nvidia-ctk runtime configure --runtime=containerd --set-as-default')
    const restart = lines.indexOf('systemctl restart containerd')
    expect([key, list, install, configure, restart].every((i) => i >= 0)).toBe(true)
    expect(key).toBeLessThan(install)
    expect(list).toBeLessThan(install)
    expect(install).toBeLessThan(configure)
    expect(configure).toBeLessThan(restart)
    expect(commands[install]!.slice(0, 2)).toEqual(['env', 'DEBIAN_FRONTEND=noninteractive'])
  })

  it('finally unmask /proc/driver/nvidia, unless the toolkit already masked only the params file', () => {
    const last = commands.at(-1)!.join(' ')
    expect(indexOf(/umount -R \/proc\/driver\/nvidia/)).toBe(commands.length - 1)
    expect(last).toMatch(/grep -qx 'ModifyDeviceFiles: 0' \/proc\/driver\/nvidia\/params.*exit 0/)
    expect(last.indexOf('exit 0')).toBeLessThan(last.indexOf('umount'))
    expect(last).toMatch(/mount --bind \/root\/gpu-params \/proc\/driver\/nvidia\/params/)
  })
})

describe('device plugin manifests', () => {
  const objects = devicePluginManifests()
  const daemonSet = () => structuredClone(objects.find((o) => o.kind === 'DaemonSet')) as IDaemonSet
  const runtimeClass = () => objects.find((o) => o.kind === 'RuntimeClass') as IRuntimeClass
  const podSpec = () => daemonSet().spec!.template.spec!

  it('validate against the Kubernetes API schemas', () => {
    expect(objects.map((o) => o.kind)).toEqual(['RuntimeClass', 'DaemonSet'])
    new RuntimeClass(runtimeClass()).validate()
    new DaemonSet(daemonSet()).validate()
  })

  it('the validation can fail: a DaemonSet without a selector is refused', () => {
    const broken = daemonSet() as { spec: Partial<NonNullable<IDaemonSet['spec']>> }
    delete broken.spec.selector
    expect(() => new DaemonSet(broken as IDaemonSet).validate()).toThrow(/selector/)
  })

  it('a DaemonSet in kube-system running a pinned device plugin image', () => {
    const ds = daemonSet()
    expect(ds.metadata!.namespace).toBe('kube-system')
    const container = podSpec().containers[0]!
    expect(container.image).toBe(DEVICE_PLUGIN_IMAGE)
    expect(container.image).toMatch(/^nvcr\.io\/nvidia\/k8s-device-plugin:v\d+\.\d+\.\d+$/)
    expect(ds.spec!.selector.matchLabels).toEqual(ds.spec!.template.metadata!.labels)
    expect(runtimeClass().handler).toBe('nvidia')
  })

  it('lands on exactly the nodes the topology labels as GPU nodes, tolerating GPU taints', async () => {
    const spec = podSpec()
    const terms = spec.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms
    expect(terms).toEqual([{ matchExpressions: [{ key: LABELS.gpuCount, operator: 'Exists' }] }])
    for (const node of fleetNodes(await loadTopology('lab'))) expect(node.labels).toHaveProperty(LABELS.gpuCount)
    expect(spec.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' })
    expect(spec.priorityClassName).toBe('system-node-critical')
  })

  it('least privilege: no API token, no privilege escalation, no capabilities, bounded memory', () => {
    const spec = podSpec()
    const container = spec.containers[0]!
    expect(spec.automountServiceAccountToken).toBe(false)
    expect(spec.hostNetwork ?? false).toBe(false)
    expect(spec.securityContext!.seccompProfile).toEqual({ type: 'RuntimeDefault' })
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
    expect(container.resources!.requests).toEqual({ cpu: '10m', memory: '32Mi' })
    expect(container.resources!.limits!.memory).toBeDefined()
    expect(spec.volumes).toEqual([
      { name: 'device-plugins', hostPath: { path: '/var/lib/kubelet/device-plugins', type: 'Directory' } },
    ])
    expect(container.volumeMounts).toEqual([{ name: 'device-plugins', mountPath: '/var/lib/kubelet/device-plugins' }])
  })
})
