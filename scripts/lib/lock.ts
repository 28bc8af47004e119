import { mkdir, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface LockOptions {
  /** Told once when another holder makes this one wait. */
  onWait?: () => void
  /** A lock older than this is taken to be left by a process that died holding it. */
  staleMs?: number
  pollMs?: number
}

/**
 * Runs `work` while holding a lock shared by every process on the machine: the directory `path`,
 * which only one `mkdir` can create. For what must not run twice at once (two `kwokctl create`
 * pick the same free ports and write the same kubeconfig).
 */
export async function withLock<T>(path: string, work: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const { staleMs = 300_000, pollMs = 250 } = options
  await mkdir(dirname(path), { recursive: true })
  let told = false
  for (;;) {
    try {
      await mkdir(path)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const since = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      )
      if (since > staleMs) {
        await rm(path, { recursive: true, force: true })
        continue
      }
      if (!told) options.onWait?.()
      told = true
      await sleep(pollMs)
    }
  }
  try {
    return await work()
  } finally {
    await rm(path, { recursive: true, force: true })
  }
}
