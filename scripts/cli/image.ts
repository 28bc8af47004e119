// npm run image: builds the workload image (skipped when one of the same sources exists).
import { buildImage } from '../lib/image.ts'
import { createPrinter } from '../lib/output.ts'
import { runCli } from './run.ts'

await runCli(async () => {
  const { emit } = createPrinter(false)
  const image = await buildImage(emit)
  emit({
    kind: 'notice',
    level: 'info',
    message: `${image.reference} (${image.contentReference})${image.built ? ' built' : ''}`,
  })
  return 0
})
