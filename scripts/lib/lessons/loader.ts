// The VitePress data loader behind each lesson's generated parts: docs/steps/NN-*.data.ts is one
// line, `export default lessonLoader('NN')`, so each lesson's page carries its own data only.
import { pathToFileURL } from 'node:url'
import { tsImport } from 'tsx/esm/api'
import { repoRoot } from '../project.ts'
import { buildLesson, type Lesson } from './lesson.ts'

export type { Lesson }

export function lessonLoader(step: string) {
  return {
    // Relative to docs/steps/, where the loaders are.
    watch: [
      `../../steps/${step}-*/**/*.yaml`,
      `../../steps/${step}-*/test-*.ts`,
      `../data/runs/${step}.json`,
      '../data/mutations.json',
    ],
    // The docs build runs loaders in plain Node, which cannot load the step's TypeScript test script itself.
    load: (): Promise<Lesson> => buildLesson(step, (path) => tsImport(path, pathToFileURL(repoRoot + '/').href)),
  }
}
