import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { EnvironmentError } from '../errors.ts'

/** Labels as NVIDIA's GPU feature discovery sets them, plus the well-known zone label. */
export const LABELS = {
  gpuProduct: 'nvidia.com/gpu.product',
  gpuMemory: 'nvidia.com/gpu.memory',
  gpuCount: 'nvidia.com/gpu.count',
  /**
   * GFD's label for a multi-node NVLink domain (GB200 NVL72 racks), set only where NVLink
   * spans nodes. GFD's value is `<cluster UUID>.<clique ID>`; the lab uses the rack's name.
   */
  nvlinkDomain: 'nvidia.com/gpu.clique',
  zone: 'topology.kubernetes.io/zone',
  /** Kubernetes has no well-known rack label; clouds use their own. This is the lab's. */
  rack: 'serving-lab.dev/rack',
  pool: 'serving-lab.dev/pool',
} as const

export const GPU_RESOURCE = 'nvidia.com/gpu'

/** The most nodes a provider that runs each as a container (kind, nodes) accepts on a laptop. */
export const MAX_LAPTOP_NODES = 8

export interface Pool {
  name: string
  count: number
  gpusPerNode: number
  gpuProduct: string
  gpuMemoryMiB: number
  cpu: string
  memory: string
  zones: string[]
  racksPerZone: number
  nvlinkDomain: 'node' | 'rack'
}

export interface Topology {
  pools: Pool[]
}

/** One node of the fleet, with everything a provider needs to make it. */
export interface FleetNode {
  name: string
  pool: string
  gpus: number
  cpu: string
  memory: string
  labels: Record<string, string>
}

const presetsDir = join(dirname(fileURLToPath(import.meta.url)), 'topologies')
export const PRESETS = ['lab', 'large'] as const

/** Reads a preset by name ("lab", "large") or a topology file by path. */
export async function loadTopology(nameOrPath = 'lab'): Promise<Topology> {
  const path = (PRESETS as readonly string[]).includes(nameOrPath) ? join(presetsDir, `${nameOrPath}.yaml`) : nameOrPath
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw new EnvironmentError(
      `topology '${nameOrPath}' is neither a preset (${PRESETS.join(', ')}) nor a readable file`,
    )
  }
  return validateTopology(parse(text), path)
}

export function validateTopology(input: unknown, source = 'topology'): Topology {
  const problems: string[] = []
  const pools = (input as { pools?: unknown } | null)?.pools
  if (!Array.isArray(pools) || pools.length === 0)
    throw new EnvironmentError(`${source}: 'pools' must be a non-empty list`)
  const names = new Set<string>()
  pools.forEach((pool: Partial<Pool>, i) => {
    const at = `pools[${i}]`
    const positiveInt = (field: keyof Pool) => {
      const value = pool[field]
      if (!Number.isInteger(value) || (value as number) < 1) problems.push(`${at}.${field} must be a whole number ≥ 1`)
    }
    if (typeof pool.name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(pool.name)) {
      problems.push(`${at}.name must be a lowercase DNS label`)
    } else if (names.has(pool.name)) problems.push(`${at}.name '${pool.name}' is used twice`)
    else names.add(pool.name)
    positiveInt('count')
    positiveInt('gpusPerNode')
    positiveInt('gpuMemoryMiB')
    positiveInt('racksPerZone')
    if (typeof pool.gpuProduct !== 'string' || pool.gpuProduct === '')
      problems.push(`${at}.gpuProduct must be a string`)
    if (typeof pool.cpu !== 'string') problems.push(`${at}.cpu must be a quantity string such as "32"`)
    if (typeof pool.memory !== 'string') problems.push(`${at}.memory must be a quantity string such as "256Gi"`)
    if (!Array.isArray(pool.zones) || pool.zones.length === 0) problems.push(`${at}.zones must be a non-empty list`)
    if (pool.nvlinkDomain !== 'node' && pool.nvlinkDomain !== 'rack')
      problems.push(`${at}.nvlinkDomain must be 'node' or 'rack'`)
  })
  if (problems.length > 0) throw new EnvironmentError(`${source} is not valid:\n  - ${problems.join('\n  - ')}`)
  return { pools: pools as Pool[] }
}

/**
 * Expands pools into nodes. Nodes fill zones in turn and, within a zone, racks in order, so
 * racks hold neighbouring node numbers as they would in a data centre.
 */
export function fleetNodes(topology: Topology): FleetNode[] {
  return topology.pools.flatMap((pool) => {
    const racks = pool.zones.flatMap((zone) =>
      Array.from({ length: pool.racksPerZone }, (_, r) => ({ zone, rack: `${zone}-${pool.name}-rack-${r + 1}` })),
    )
    const perRack = Math.ceil(pool.count / racks.length)
    return Array.from({ length: pool.count }, (_, i): FleetNode => {
      const { zone, rack } = racks[Math.floor(i / perRack)]!
      const name = `${pool.name}-${i}`
      return {
        name,
        pool: pool.name,
        gpus: pool.gpusPerNode,
        cpu: pool.cpu,
        memory: pool.memory,
        labels: {
          [LABELS.pool]: pool.name,
          [LABELS.gpuProduct]: pool.gpuProduct,
          [LABELS.gpuMemory]: String(pool.gpuMemoryMiB),
          [LABELS.gpuCount]: String(pool.gpusPerNode),
          ...(pool.nvlinkDomain === 'rack' ? { [LABELS.nvlinkDomain]: rack } : {}),
          [LABELS.zone]: zone,
          [LABELS.rack]: rack,
        },
      }
    })
  })
}
