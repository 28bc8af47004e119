/**
 * The node's GPUs as `nvidia-smi` reports them:
 *
 *   nvidia-smi --query-gpu=index,uuid,memory.total,memory.used --format=csv,noheader,nounits
 *
 * prints one line per GPU, fields separated by ", ", memory in MiB, e.g.
 * `0, GPU-3a1f…, 81559, 4`. A field the GPU cannot report reads `[N/A]` (or `[Not Supported]`,
 * `[Insufficient Permissions]`); such a GPU's free memory is unknown, and the agent reports it
 * as 0 free rather than guess.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

export const NVIDIA_SMI_ARGS = [
  '--query-gpu=index,uuid,memory.total,memory.used',
  '--format=csv,noheader,nounits',
] as const

/** One GPU: its index and UUID, total and free memory in MiB. */
export interface Gpu {
  index: number
  uuid: string
  totalMiB: number
  freeMiB: number
}

const mib = (field: string): number | undefined => (/^\d+$/.test(field) ? Number(field) : undefined)

/** Parses the query's output; throws on a line that is not four fields with a whole index. */
export function parseNvidiaSmi(output: string): Gpu[] {
  const gpus: Gpu[] = []
  for (const line of output.split(/\r?\n/)) {
    if (line.trim() === '') continue
    const fields = line.split(',').map((f) => f.trim())
    if (fields.length !== 4 || !/^\d+$/.test(fields[0]!) || fields[1] === '')
      throw new Error(`nvidia-smi: expected "index, uuid, memory.total, memory.used", got "${line}"`)
    const [index, uuid, total, used] = fields as [string, string, string, string]
    const totalMiB = mib(total) ?? 0
    const usedMiB = mib(used)
    gpus.push({
      index: Number(index),
      uuid,
      totalMiB,
      freeMiB: usedMiB === undefined ? 0 : Math.max(0, totalMiB - usedMiB),
    })
  }
  return gpus.sort((a, b) => a.index - b.index)
}

/** Runs the query; undefined when the program is not there (a node without NVIDIA's driver). */
export async function readNvidiaSmi(program: string): Promise<Gpu[] | undefined> {
  try {
    const { stdout } = await promisify(execFile)(program, [...NVIDIA_SMI_ARGS], { timeout: 10_000 })
    return parseNvidiaSmi(stdout)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
