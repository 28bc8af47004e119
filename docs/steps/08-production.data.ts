// Step 08's lesson parts, made at build time from the repository (scripts/lib/lessons/).
import { lessonLoader, type Lesson } from '../../scripts/lib/lessons/loader.ts'

declare const data: Lesson
export { data }

export default lessonLoader('08')
