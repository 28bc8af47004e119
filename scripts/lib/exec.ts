import { spawn } from 'node:child_process'
import { CommandError, EnvironmentError } from './errors.ts'

export interface ExecOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  input?: string
  /** Called with every line the command prints (stdout and stderr), for progress. */
  onLine?: (line: string) => void
}

/**
 * Runs a command without a shell and returns its standard output. A failure throws a
 * CommandError with the command line and everything it printed; a missing program throws an
 * EnvironmentError naming it.
 */
export function exec(program: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const commandLine = [program, ...args].join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let combined = ''
    const lineSplitter = () => {
      let pending = ''
      return (chunk: Buffer) => {
        if (!options.onLine) return
        pending += chunk.toString()
        const lines = pending.split('\n')
        pending = lines.pop() ?? ''
        for (const line of lines) options.onLine(line)
      }
    }
    const outLines = lineSplitter()
    const errLines = lineSplitter()
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      combined += chunk.toString()
      outLines(chunk)
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      combined += chunk.toString()
      errLines(chunk)
    })
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT')
        reject(new EnvironmentError(`'${program}' was not found on PATH (needed for: ${commandLine})`))
      else reject(error)
    })
    child.on('close', (code) => {
      if (code === 0) resolve(stdout)
      else reject(new CommandError(commandLine, code, combined))
    })
    if (child.stdin) {
      // A command may exit before reading its input; that is its exit code's business, not a crash.
      child.stdin.on('error', () => {})
      child.stdin.end(options.input)
    }
  })
}

/** Whether a program is on PATH. */
export async function hasProgram(program: string): Promise<boolean> {
  try {
    await exec('sh', ['-c', `command -v ${program}`])
    return true
  } catch {
    return false
  }
}
