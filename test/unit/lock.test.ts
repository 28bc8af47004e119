import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { withLock } from '../../scripts/lib/lock.ts'

const lockIn = async () => join(await mkdtemp(join(tmpdir(), 'lock-test-')), 'sub', 'the.lock')

describe('withLock', () => {
  it('runs one holder at a time, tells the one that waits, and releases the lock', async () => {
    const path = await lockIn()
    const spans: [number, number][] = []
    let waited = 0
    const hold = () =>
      withLock(
        path,
        async () => {
          const start = performance.now()
          await sleep(50)
          spans.push([start, performance.now()])
        },
        { onWait: () => waited++, pollMs: 5 },
      )
    await Promise.all([hold(), hold(), hold()])
    spans.sort((a, b) => a[0] - b[0])
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1])
    expect(waited).toBe(2)
    expect(existsSync(path)).toBe(false)
  })

  it('releases the lock when the work throws', async () => {
    const path = await lockIn()
    await expect(withLock(path, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(existsSync(path)).toBe(false)
  })

  it('takes over a lock left by a process that died holding it', async () => {
    const path = await lockIn()
    await mkdir(path, { recursive: true })
    const old = new Date(Date.now() - 60_000)
    await utimes(path, old, old)
    expect(await withLock(path, async () => 'ran', { staleMs: 10_000 })).toBe('ran')
  })
})
