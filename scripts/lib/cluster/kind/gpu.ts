import type { KubernetesObject } from '@kubernetes/client-node'
import { LABELS } from '../topology.ts'

/**
 * GPU passthrough into kind's workers, the way NVIDIA's nvkind does it: the host's NVIDIA
 * Container Toolkit hands every GPU to each worker container (the /dev/null mount in the kind
 * config), the toolkit inside the worker hands them on to pods, and NVIDIA's device plugin
 * advertises them as `nvidia.com/gpu`. Everything here is data; gpu-setup.ts acts on it.
 */

export const TOOLKIT_CONFIG = '/etc/nvidia-container-runtime/config.toml'
export const VOLUME_MOUNTS_KEY = 'accept-nvidia-visible-devices-as-volume-mounts'
export const DEVICE_PLUGIN_IMAGE = 'nvcr.io/nvidia/k8s-device-plugin:v0.19.3'
export const DEVICE_PLUGIN_NAME = 'nvidia-device-plugin'

/** What was read on the host: `docker info`'s default runtime and the toolkit's config file. */
export interface HostGpuSetup {
  dockerDefaultRuntime: string
  /** The text of TOOLKIT_CONFIG, undefined when the file does not exist. */
  toolkitConfig: string | undefined
}

export interface HostRequirement {
  id: 'toolkit' | 'docker-default-runtime' | 'volume-mounts'
  what: string
  /** Shell lines that make it true (run as root). */
  fix: string[]
}

const RESTART_DOCKER = 'sudo systemctl restart docker'

export const HOST_REQUIREMENTS: Record<HostRequirement['id'], HostRequirement> = {
  toolkit: {
    id: 'toolkit',
    what: `the NVIDIA Container Toolkit is installed (${TOOLKIT_CONFIG} exists)`,
    fix: [
      'install nvidia-container-toolkit: https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html',
    ],
  },
  'docker-default-runtime': {
    id: 'docker-default-runtime',
    what: "Docker's default runtime is nvidia",
    fix: ['sudo nvidia-ctk runtime configure --runtime=docker --set-as-default', RESTART_DOCKER],
  },
  'volume-mounts': {
    id: 'volume-mounts',
    what: `${VOLUME_MOUNTS_KEY} = true in ${TOOLKIT_CONFIG}`,
    fix: [`sudo nvidia-ctk config --set ${VOLUME_MOUNTS_KEY}=true --in-place`, RESTART_DOCKER],
  },
}

/** The host requirements that do not hold, in the order they should be fixed. */
export function missingHostSetup(setup: HostGpuSetup): HostRequirement[] {
  const missing: HostRequirement[] = []
  if (setup.toolkitConfig === undefined) missing.push(HOST_REQUIREMENTS.toolkit)
  if (setup.dockerDefaultRuntime.trim() !== 'nvidia') missing.push(HOST_REQUIREMENTS['docker-default-runtime'])
  if (setup.toolkitConfig === undefined || topLevelTomlBoolean(setup.toolkitConfig, VOLUME_MOUNTS_KEY) !== true) {
    missing.push(HOST_REQUIREMENTS['volume-mounts'])
  }
  return missing
}

/**
 * The value of a boolean key at the top level of a TOML file (before its first table), or
 * undefined when it is not set there. The toolkit's key lives at the top level; a line under a
 * table such as [nvidia-container-cli] is another setting.
 */
export function topLevelTomlBoolean(text: string, key: string): boolean | undefined {
  let value: boolean | undefined
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim()
    if (line.startsWith('[')) break
    const match = /^("?)([A-Za-z0-9_.-]+)\1\s*=\s*(true|false)$/.exec(line)
    if (match && match[2] === key) value = match[3] === 'true'
  }
  return value
}

const KEYRING = '/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg'
const TOOLKIT_REPO = 'https://nvidia.github.io/libnvidia-container'
const shell = (script: string) => ['bash', '-c', `set -euo pipefail; ${script}`]
const aptGet = (...args: string[]) => ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args]

/**
 * The commands to run in each GPU worker after the cluster exists, each an argv for
 * `docker exec NODE ...`, in order: install the NVIDIA Container Toolkit from NVIDIA's apt
 * repository, make nvidia containerd's default runtime (so every pod, the device plugin's
 * included, runs under it), restart containerd, and undo the mask over /proc/driver/nvidia.
 */
export function workerSetupCommands(): string[][] {
  return [
    aptGet('update'),
    aptGet('install', '-y', '--no-install-recommends', 'ca-certificates', 'curl', 'gpg'),
    shell(`curl -fsSL ${TOOLKIT_REPO}/gpgkey | gpg --dearmor --yes -o ${KEYRING}`),
    shell(
      `curl -fsSL ${TOOLKIT_REPO}/stable/deb/nvidia-container-toolkit.list | sed 's#deb https://#deb [signed-by=${KEYRING}] https://#g' > /etc/apt/sources.list.d/nvidia-container-toolkit.list`,
    ),
    aptGet('update'),
    aptGet('install', '-y', '--no-install-recommends', 'nvidia-container-toolkit'),
    ['nvidia-ctk', 'runtime', 'configure', '--runtime=containerd', '--set-as-default'],
    ['systemctl', 'restart', 'containerd'],
    shell(unmaskProcDriverNvidia),
  ]
}

// The runtime that started the worker laid a tmpfs over /proc/driver/nvidia; unmounting it shows
// the driver's real files to NVML inside the node. The copied params with ModifyDeviceFiles: 0
// stop nvidia-smi in the node from recreating device nodes. Toolkits from 1.19 mount such a
// params file themselves (and only that file), so then there is nothing to do.
const unmaskProcDriverNvidia = [
  "if grep -qx 'ModifyDeviceFiles: 0' /proc/driver/nvidia/params; then exit 0; fi",
  'umount -R /proc/driver/nvidia',
  'cp /proc/driver/nvidia/params /root/gpu-params',
  "sed -i 's/^ModifyDeviceFiles: 1$/ModifyDeviceFiles: 0/' /root/gpu-params",
  'mount --bind /root/gpu-params /proc/driver/nvidia/params',
].join('\n')

const DEVICE_PLUGIN_LABELS = { 'app.kubernetes.io/name': DEVICE_PLUGIN_NAME }

/**
 * NVIDIA's device plugin as a DaemonSet in kube-system on the lab's GPU nodes (those the
 * topology labels with a GPU count), and the `nvidia` RuntimeClass for pods that name it, as
 * nvkind registers it. The plugin needs no API access and no privileges beyond writing its
 * socket into the kubelet's device-plugins folder.
 */
export function devicePluginManifests(): KubernetesObject[] {
  const runtimeClass = {
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name: 'nvidia' },
    handler: 'nvidia',
  }
  const daemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: DEVICE_PLUGIN_NAME, namespace: 'kube-system', labels: DEVICE_PLUGIN_LABELS },
    spec: {
      selector: { matchLabels: DEVICE_PLUGIN_LABELS },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: DEVICE_PLUGIN_LABELS },
        spec: {
          // A node selector needs a value; the GPU nodes share only the label's presence.
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: LABELS.gpuCount, operator: 'Exists' }] }],
              },
            },
          },
          tolerations: [
            { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
          ],
          priorityClassName: 'system-node-critical',
          automountServiceAccountToken: false,
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: DEVICE_PLUGIN_NAME,
              image: DEVICE_PLUGIN_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'device-plugins', mountPath: '/var/lib/kubelet/device-plugins' }],
            },
          ],
          volumes: [
            { name: 'device-plugins', hostPath: { path: '/var/lib/kubelet/device-plugins', type: 'Directory' } },
          ],
        },
      },
    },
  }
  return [runtimeClass, daemonSet]
}
