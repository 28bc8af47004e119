import { exitCodeFor, reportError } from '../lib/errors.ts'

/** Runs a command's main function and exits with its code, or with the code its error maps to. */
export async function runCli(main: () => Promise<number>): Promise<never> {
  try {
    process.exit(await main())
  } catch (error) {
    reportError(error)
    process.exit(exitCodeFor(error))
  }
}
