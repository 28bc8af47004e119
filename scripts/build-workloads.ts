// `npm run build:workloads`: bundles every workload into dist/workloads/ (scripts/lib/build/workloads.ts).
import { relative } from 'node:path'
import { buildWorkloads } from './lib/build/workloads.ts'

for (const bundle of await buildWorkloads()) console.log(`built ${relative(process.cwd(), bundle)}`)
