// Every environment variable the lab's scripts read, read here and nowhere else (the README
// lists them). A command-line option, where there is one, wins over its variable. Read when
// asked, not at import, so a test can set one. Left out on purpose: the workloads' own
// variables (workloads/shared/config.ts), and SERVING_LAB_REAL_DOCKER, which only the kind
// docker shim reads (cluster/kind/docker-without-privileged.sh).
import { homedir } from 'node:os'
import { join } from 'node:path'
import { PROJECT } from './project.ts'

const env = (name: string): string | undefined => process.env[name] || undefined

export const settings = {
  /** SERVING_LAB_PROVIDER: the cluster provider when no --provider is given: kind (default) or kwok. */
  get provider() {
    return env('SERVING_LAB_PROVIDER')
  },
  /** SERVING_LAB_CLUSTER: the name of the lab's cluster when no --cluster is given (default serving-lab). */
  get cluster() {
    return env('SERVING_LAB_CLUSTER')
  },
  /** SERVING_LAB_TOPOLOGY: the nodes of a cluster the lab creates, when no --topology is given: lab (default), large, or a file. */
  get topology() {
    return env('SERVING_LAB_TOPOLOGY')
  },
  /** SERVING_LAB_CACHE: where heavy builds (Kubernetes binaries) live, outside the repository; default $XDG_CACHE_HOME/multi-node-serving-lab. */
  get cacheDir() {
    return env('SERVING_LAB_CACHE') ?? join(env('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), PROJECT)
  },
  /** SERVING_LAB_TEST_CLUSTER: the kwok cluster the integration suites share (default serving-lab-test). */
  get testCluster() {
    return env('SERVING_LAB_TEST_CLUSTER') ?? 'serving-lab-test'
  },
  /** CHROMIUM_PATH: the browser the docs-site test drives (default Debian's /usr/bin/chromium). */
  get chromiumPath() {
    return env('CHROMIUM_PATH') ?? '/usr/bin/chromium'
  },
  /**
   * SERVING_LAB_SCREENSHOTS: where the docs-site test writes its screenshots (every page, light and
   * dark, desktop and phone), outside the repository; default the cache's screenshots/.
   */
  get screenshotsDir() {
    return env('SERVING_LAB_SCREENSHOTS') ?? join(this.cacheDir, 'screenshots')
  },
  /** DEBUG: set, an unexpected error prints its stack. */
  get debug() {
    return env('DEBUG') !== undefined
  },
  /** NO_COLOR: set, output has no colour (https://no-color.org). */
  get noColour() {
    return env('NO_COLOR') !== undefined
  },
}
