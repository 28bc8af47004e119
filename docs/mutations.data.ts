// The mutation suite's table: the mistakes each step's mutations/mutations.yaml lists, and what
// the recorded run (docs/data/mutations.json, written by `npm run mutations -- --record`) made of them.
import { defineLoader } from 'vitepress'
import {
  listedMutations,
  mutationTable,
  readRecordedResults,
  type MutationTable,
} from '../scripts/lib/mutations/table.ts'

declare const data: MutationTable
export { data }

export default defineLoader({
  watch: ['../steps/*/mutations/mutations.yaml', './data/mutations.json'],
  async load(): Promise<MutationTable> {
    return mutationTable(await listedMutations(), await readRecordedResults())
  },
})
