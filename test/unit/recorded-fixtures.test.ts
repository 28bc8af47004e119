// Recorded observations are keyed by check id, which stays when a title is reworded: every key
// of every fixture names a check of its step.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Check } from '../../scripts/lib/checks/check.ts'
import { networkPolicyChecks } from '../../scripts/lib/cluster/network-checks.ts'
import { checks as step01 } from '../../steps/01-basic-statefulset/test-01-statefulset.ts'
import { checks as step02 } from '../../steps/02-headless-service/test-02-headless.ts'
import { checks as step03 } from '../../steps/03-multi-node-tp/test-03-multi-node.ts'
import { checks as step04 } from '../../steps/04-router/test-04-router.ts'
import { checks as step05 } from '../../steps/05-coordination/test-05-coordination.ts'
import { checks as step08 } from '../../steps/08-production/test-08-production.ts'

const dir = join(import.meta.dirname, 'fixtures')
const checksFor: Record<string, readonly Check[]> = {
  'step-01': step01,
  'step-02': step02,
  'step-03': step03,
  'step-04': step04,
  'step-05': step05,
  'step-08': step08,
  network: networkPolicyChecks,
}
// The .process.json files hold answers of the workloads run as processes, keyed by scenario.
const recordings = readdirSync(dir).filter((file) => file.endsWith('.json') && !file.includes('.process.'))

describe('recorded observations', () => {
  it.each(recordings)('%s is keyed by check id', (file) => {
    const checks = Object.entries(checksFor).find(([prefix]) => file.startsWith(prefix))?.[1]
    expect(checks, `no checks for ${file}`).toBeDefined()
    const keys = Object.keys(JSON.parse(readFileSync(join(dir, file), 'utf8')) as object)
    expect(keys.length).toBeGreaterThan(0)
    expect(keys.filter((key) => !checks!.some((c) => c.id === key))).toEqual([])
  })
})
