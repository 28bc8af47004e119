import { EnvironmentError } from '../errors.ts'
import { exec, hasProgram } from '../exec.ts'

/** A module's files in the Go module cache, downloaded from the module proxy if needed. */
export async function goModuleDir(module: string, version: string): Promise<string> {
  const pinned = `${module}@${version}`
  if (!(await hasProgram('go')))
    throw new EnvironmentError(`Go is needed to fetch ${pinned} from the Go module proxy. Install Go 1.26+.`)
  const info = JSON.parse(await exec('go', ['mod', 'download', '-json', pinned])) as { Dir?: string; Error?: string }
  if (!info.Dir) throw new EnvironmentError(`the Go module proxy did not serve ${pinned}: ${info.Error ?? 'no Dir'}`)
  return info.Dir
}
