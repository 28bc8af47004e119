import { settings } from './settings.ts'

/**
 * The machine or cluster is not in a state the lab can work with (no cluster, wrong context,
 * missing tool). The message says what to do; the CLI exits with 2.
 */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError'
}

/** A command the lab ran failed: carries the command line, its output and exit code. */
export class CommandError extends Error {
  override name = 'CommandError'
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`command failed (exit ${exitCode ?? 'signal'}): ${command}`)
  }
}

/**
 * A readable message for any error. Kubernetes API errors carry a Status object whose `message`
 * says what was wrong ("pods \"x\" not found"); that is shown instead of the raw response.
 */
export function errorMessage(error: unknown): string {
  const { code, body } = (error ?? {}) as { code?: unknown; body?: unknown }
  if (typeof code === 'number' && typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string; reason?: string }
      if (status.message) return `${status.reason ?? code}: ${status.message}`
    } catch {
      return `HTTP ${code}: ${body.slice(0, 200)}`
    }
  }
  if (error instanceof Error) return error.message
  return String(error)
}

/** The one place errors become exit codes: 2 when the environment is wrong, 1 for anything else. */
export function exitCodeFor(error: unknown): number {
  return error instanceof EnvironmentError ? 2 : 1
}

/** Prints an error for a person: a failed command with its output, a stack only with DEBUG set. */
export function reportError(error: unknown): void {
  if (error instanceof EnvironmentError) {
    console.error(`✘ ${error.message}`)
  } else if (error instanceof CommandError) {
    console.error(`✘ ${error.message}\n${error.output.trimEnd()}`)
  } else {
    console.error(`✘ ${errorMessage(error)}`)
    if (settings.debug && error instanceof Error) console.error(error.stack)
  }
}
