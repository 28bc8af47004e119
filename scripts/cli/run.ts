import { CommandError, EnvironmentError, errorMessage } from '../lib/errors.ts'

/** The one place errors become exit codes: 2 when the environment is wrong, 1 for anything else. */
export function exitCodeFor(error: unknown): number {
  return error instanceof EnvironmentError ? 2 : 1
}

export function reportError(error: unknown): void {
  if (error instanceof EnvironmentError) {
    console.error(`✘ ${error.message}`)
  } else if (error instanceof CommandError) {
    console.error(`✘ ${error.message}\n${error.output.trimEnd()}`)
  } else {
    console.error(`✘ ${errorMessage(error)}`)
    if (process.env.DEBUG && error instanceof Error) console.error(error.stack)
  }
}

/** Runs a command's main function and exits with its code, or with the code its error maps to. */
export async function runCli(main: () => Promise<number>): Promise<never> {
  try {
    process.exit(await main())
  } catch (error) {
    reportError(error)
    process.exit(exitCodeFor(error))
  }
}
