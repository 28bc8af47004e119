// The router as a real process on loopback, in front of the backends a suite gives it.
import { startWorkload } from '../../scripts/lib/workload-process.ts'
import type { WorkloadProcess } from '../../scripts/lib/workload-process.ts'
import { repoRoot } from '../../scripts/lib/project.ts'

export interface RouterOptions {
  /** The path that answers 200 once the router is ready: `/health` (it is up), or `/ready` (a backend is healthy). */
  readyPath?: '/health' | '/ready'
  /** Environment variables beside PATH, such as the KUBECONFIG of a router that follows live configuration. */
  env?: Record<string, string>
}

/**
 * The router from source, run through tsx's loader, with health checks every 200 ms (150 ms to
 * answer) so a backend's state shows within a test's patience; `flags` come after them.
 */
export function startRouter(
  backends: string[],
  flags: string[] = [],
  { readyPath = '/health', env = {} }: RouterOptions = {},
): Promise<WorkloadProcess> {
  return startWorkload(
    process.execPath,
    [
      '--import',
      'tsx',
      'workloads/router/main.ts',
      '--backends',
      backends.join(','),
      '--health-interval-ms',
      '200',
      '--health-timeout-ms',
      '150',
      ...flags,
    ],
    { cwd: repoRoot, env: { PATH: process.env.PATH, ...env }, readyPath },
  )
}
