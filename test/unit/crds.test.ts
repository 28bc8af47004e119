// What the CRD installers share: the check that a file holds the CRD expected, and the cache that
// fetches a source's CRDs once, keeps all of them or none, and is read from then on.
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { KEDA_CRDS } from '../../scripts/lib/build/keda-crds.ts'
import { POD_GROUP_CRD_NAME } from '../../scripts/lib/build/pod-group-crd.ts'
import { cachedCrds, crdFrom, type CrdSource } from '../../scripts/lib/build/crds.ts'

const crd = (name: string) => `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${name}
spec:
  group: ${name.split('.').slice(1).join('.')}
`
const quiet = () => {}

describe('crdFrom', () => {
  it("takes each CRD from its module file: KEDA's, the PodGroup's", () => {
    for (const { name, file } of KEDA_CRDS) expect(crdFrom(crd(name), name, file).metadata!.name).toBe(name)
    expect(crdFrom(crd(POD_GROUP_CRD_NAME), POD_GROUP_CRD_NAME, 'crd.yaml').metadata!.name).toBe(POD_GROUP_CRD_NAME)
  })

  it('refuses a file that holds another CRD, or more than the one', () => {
    const name = 'scaledobjects.keda.sh'
    expect(() => crdFrom(crd('scaledjobs.keda.sh'), name, 'f.yaml')).toThrow(/exactly the CRD scaledobjects/)
    expect(() => crdFrom(crd(name) + crd('x.keda.sh'), name, 'f.yaml')).toThrow(/2 objects/)
    const other = crd('elasticquotas.scheduling.x-k8s.io')
    expect(() => crdFrom(other, POD_GROUP_CRD_NAME, 'crd.yaml')).toThrow(/exactly the CRD podgroups/)
  })
})

describe('cachedCrds', () => {
  let root: string
  let fetches: number
  /** What the fetched module's files hold, by file. */
  let upstream: Record<string, string>

  const source = (): CrdSource => ({
    cacheDir: join(root, 'cache', 'crds', 'example-v1'),
    crds: [
      { name: 'widgets.example.com', file: 'config/widgets.yaml' },
      { name: 'gadgets.example.com', file: 'gadgets.yaml' },
    ],
    async fetch() {
      fetches++
      const dir = join(root, 'module')
      for (const [file, text] of Object.entries(upstream)) {
        await mkdir(dirname(join(dir, file)), { recursive: true })
        await writeFile(join(dir, file), text)
      }
      return dir
    },
  })
  const names = (objects: { metadata?: { name?: string } }[]) => objects.map((o) => o.metadata?.name)

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'crds-'))
    fetches = 0
    upstream = { 'config/widgets.yaml': crd('widgets.example.com'), 'gadgets.yaml': crd('gadgets.example.com') }
  })
  afterEach(() => rm(root, { recursive: true, force: true }))

  it('fetches once, then reads the cache', async () => {
    expect(names(await cachedCrds(source(), quiet))).toEqual(['widgets.example.com', 'gadgets.example.com'])
    expect(fetches).toBe(1)
    await rm(join(root, 'module'), { recursive: true })
    expect(names(await cachedCrds(source(), quiet))).toEqual(['widgets.example.com', 'gadgets.example.com'])
    expect(fetches).toBe(1)
  })

  it('fetches all again when the cache lost one', async () => {
    await cachedCrds(source(), quiet)
    await rm(join(source().cacheDir, 'gadgets.example.com.yaml'))
    expect(names(await cachedCrds(source(), quiet))).toEqual(['widgets.example.com', 'gadgets.example.com'])
    expect(fetches).toBe(2)
  })

  it('refuses a fetched file that holds another CRD, and caches none of them', async () => {
    upstream['gadgets.yaml'] = crd('gizmos.example.com')
    await expect(cachedCrds(source(), quiet)).rejects.toThrow(/gadgets.yaml should hold exactly the CRD gadgets/)
    expect(existsSync(source().cacheDir)).toBe(false)
  })
})
