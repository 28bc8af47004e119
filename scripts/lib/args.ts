import { minimist } from 'zx'
import { EnvironmentError } from './errors.ts'

/** The options the lab's commands share; each command says which it accepts. */
export interface LabArgs {
  _: string[]
  json: boolean
  apply: boolean
  reset: boolean
  context?: string
  provider?: string
  cluster?: string
  topology?: string
  /** One step, for commands that otherwise take every step. */
  step?: string
  /** A file to write results to. */
  record?: string
}

const BOOLEANS = ['json', 'apply', 'reset'] as const
const STRINGS = ['context', 'provider', 'cluster', 'topology', 'step', 'record'] as const
type Option = (typeof BOOLEANS)[number] | (typeof STRINGS)[number]

/** minimist, typed, with `--no-apply` style negation, and a clear error for an option the command does not take. */
export function parseArgs(argv: string[], accepted: readonly Option[]): LabArgs {
  const parsed = minimist(argv, {
    boolean: BOOLEANS.filter((o) => accepted.includes(o)),
    // '_' keeps positionals as written: step "03" must not become the number 3.
    string: ['_', ...STRINGS.filter((o) => accepted.includes(o))],
    default: { apply: true },
    unknown: (arg: string) => {
      if (!arg.startsWith('-')) return true
      throw new EnvironmentError(
        `unknown option ${arg}; this command takes: ${accepted.map((o) => (o === 'apply' ? '--no-apply' : `--${o}`)).join(', ')}`,
      )
    },
  })
  for (const option of STRINGS) {
    const given = argv.some((arg) => arg === `--${option}` || arg.startsWith(`--${option}=`))
    if (given && (typeof parsed[option] !== 'string' || parsed[option] === ''))
      throw new EnvironmentError(`--${option} needs a value`)
  }
  return {
    _: parsed._.map(String),
    json: Boolean(parsed.json),
    apply: parsed.apply !== false,
    reset: Boolean(parsed.reset),
    context: parsed.context,
    provider: parsed.provider,
    cluster: parsed.cluster,
    topology: parsed.topology,
    step: parsed.step,
    record: parsed.record,
  }
}
