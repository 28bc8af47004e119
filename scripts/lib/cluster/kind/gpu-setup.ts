import { readFile } from 'node:fs/promises'
import { EnvironmentError } from '../../errors.ts'
import { exec } from '../../exec.ts'
import { apply, type KubeContext } from '../../kube.ts'
import type { EmitEvent } from '../../output.ts'
import { pollUntil } from '../../poll.ts'
import { GPU_RESOURCE, LABELS } from '../topology.ts'
import {
  devicePluginManifests,
  missingHostSetup,
  TOOLKIT_CONFIG,
  workerSetupCommands,
  type HostGpuSetup,
} from './gpu.ts'

export async function readHostGpuSetup(): Promise<HostGpuSetup> {
  const dockerDefaultRuntime = await exec('docker', ['info', '--format', '{{.DefaultRuntime}}']).catch(() => '')
  const toolkitConfig = await readFile(TOOLKIT_CONFIG, 'utf8').catch(() => undefined)
  return { dockerDefaultRuntime, toolkitConfig }
}

/**
 * Whether the host is set up to pass its GPUs into kind's nodes. When it is not, says what is
 * missing and how to fix it, and the cluster is made with simulated GPUs instead.
 */
export async function hostReadyForPassthrough(emit: EmitEvent): Promise<boolean> {
  const missing = missingHostSetup(await readHostGpuSetup())
  if (missing.length === 0) return true
  const fixes = [...new Set(missing.flatMap((requirement) => requirement.fix))]
  emit({
    kind: 'notice',
    level: 'warn',
    message: `NVIDIA GPUs found, but they cannot be passed into kind's nodes until ${missing.map((r) => r.what).join('; ')}. Fix: ${fixes.join(' && ')}. Until then the workers advertise simulated GPUs.`,
  })
  return false
}

/**
 * After `kind create cluster` with passthrough: sets up the toolkit in every GPU worker,
 * installs the device plugin, and waits until each worker advertises its GPUs. Returns how many.
 */
export async function setUpGpuWorkers(kube: KubeContext, emit: EmitEvent, timeoutMs = 300_000): Promise<number> {
  const workers = (await kube.core.listNode({ labelSelector: LABELS.gpuCount })).items.map(
    (node) => node.metadata!.name!,
  )
  for (const worker of workers) {
    emit({ kind: 'progress', message: `setting up the NVIDIA Container Toolkit in ${worker}` })
    for (const argv of workerSetupCommands()) await exec('docker', ['exec', worker, ...argv])
  }
  emit({ kind: 'progress', message: 'installing the NVIDIA device plugin' })
  await apply(kube, devicePluginManifests())
  const { value: gpus, held } = await pollUntil(
    async () =>
      (await kube.core.listNode({ labelSelector: LABELS.gpuCount })).items.map((node) =>
        Number(node.status?.allocatable?.[GPU_RESOURCE] ?? 0),
      ),
    (counts) => counts.every((count) => count > 0),
    { timeoutMs, intervalMs: 3000 },
  )
  if (!held) {
    throw new EnvironmentError(
      `the NVIDIA device plugin did not advertise ${GPU_RESOURCE} on every GPU worker within ${timeoutMs / 1000} s: see \`kubectl -n kube-system logs daemonset/nvidia-device-plugin\``,
    )
  }
  return gpus.reduce((a, b) => a + b, 0)
}
