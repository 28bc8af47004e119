// The lab's environment variables, read in scripts/lib/settings.ts when asked; an option wins.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { settings } from '../../scripts/lib/settings.ts'
import { resolveTarget } from '../../scripts/lib/target.ts'

afterEach(() => vi.unstubAllEnvs())

describe('settings', () => {
  it('reads a variable when asked, and treats an empty one as unset', () => {
    vi.stubEnv('SERVING_LAB_PROVIDER', 'kwok')
    expect(settings.provider).toBe('kwok')
    vi.stubEnv('SERVING_LAB_PROVIDER', '')
    expect(settings.provider).toBeUndefined()
  })

  it('keeps the cache under XDG_CACHE_HOME unless SERVING_LAB_CACHE says where', () => {
    vi.stubEnv('SERVING_LAB_CACHE', '')
    vi.stubEnv('XDG_CACHE_HOME', '/tmp/xdg')
    expect(settings.cacheDir).toBe('/tmp/xdg/multi-node-serving-lab')
    vi.stubEnv('SERVING_LAB_CACHE', '/tmp/lab-cache')
    expect(settings.cacheDir).toBe('/tmp/lab-cache')
  })
})

describe('the topology of a cluster the lab creates', () => {
  it('comes from --topology, else SERVING_LAB_TOPOLOGY, else the default', () => {
    vi.stubEnv('SERVING_LAB_TOPOLOGY', '')
    expect(resolveTarget({}).topology).toBeUndefined()
    vi.stubEnv('SERVING_LAB_TOPOLOGY', 'large')
    expect(resolveTarget({}).topology).toBe('large')
    expect(resolveTarget({ topology: 'lab' }).topology).toBe('lab')
  })
})
