import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project's name: the field manager of every apply, and the `part-of` label of everything it creates. */
export const PROJECT = 'multi-node-serving-lab'

/** The cluster the lab creates; providers prefix it (`kind-serving-lab`, `kwok-serving-lab`). */
export const DEFAULT_CLUSTER_NAME = 'serving-lab'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export const partOfLabel = { 'app.kubernetes.io/part-of': PROJECT } as const
