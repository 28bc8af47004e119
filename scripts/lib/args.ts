import { parseArgs as parseNodeArgs } from 'node:util'
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
  /** The x-request-id of one request, whose log lines to follow. */
  requestId?: string
  /** npm run backup: the file to write. */
  out?: string
  /** npm run restore: the backup file to read. */
  from?: string
  /** npm run restore: the namespace to restore into, instead of the one backed up. */
  namespace?: string
  /** npm run restore: apply over objects the namespace already holds. */
  force: boolean
}

const BOOLEANS = ['json', 'apply', 'reset', 'force'] as const
const STRINGS = [
  'context',
  'provider',
  'cluster',
  'topology',
  'step',
  'record',
  'request-id',
  'out',
  'from',
  'namespace',
] as const
type Option = (typeof BOOLEANS)[number] | (typeof STRINGS)[number]

const spelling = (option: Option) => (option === 'apply' ? '--no-apply' : `--${option}`)

/**
 * Node.js's own parser (the one the workloads use too), strict: `--no-apply` negates, positionals
 * stay text (step "03" is not the number 3), and an option the command does not take, or a
 * string option without its value, is an EnvironmentError that says what the command takes.
 */
export function parseArgs(argv: string[], accepted: readonly Option[]): LabArgs {
  const options = Object.fromEntries(
    accepted.map((option) => [
      option,
      { type: (BOOLEANS as readonly string[]).includes(option) ? 'boolean' : 'string' },
    ]),
  ) as Record<Option, { type: 'boolean' | 'string' }>
  let parsed: ReturnType<typeof parseNodeArgs<{ options: typeof options; allowPositionals: true; allowNegative: true }>>
  try {
    parsed = parseNodeArgs({ args: argv, options, allowPositionals: true, allowNegative: true, strict: true })
  } catch (error) {
    const { code, message } = error as { code?: string; message: string }
    const option = message.match(/'(-{1,2}[\w-]+)/)?.[1] ?? ''
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      throw new EnvironmentError(`unknown option ${option}; this command takes: ${accepted.map(spelling).join(', ')}`)
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new EnvironmentError(`${option} needs a value`)
    throw new EnvironmentError(message)
  }
  const values = parsed.values as Partial<Record<Option, string | boolean>>
  for (const option of STRINGS) {
    if (values[option] === '') throw new EnvironmentError(`--${option} needs a value`)
  }
  const text = (option: Option) => values[option] as string | undefined
  return {
    _: parsed.positionals,
    json: values.json === true,
    apply: values.apply !== false,
    reset: values.reset === true,
    force: values.force === true,
    context: text('context'),
    provider: text('provider'),
    cluster: text('cluster'),
    topology: text('topology'),
    step: text('step'),
    record: text('record'),
    requestId: text('request-id'),
    out: text('out'),
    from: text('from'),
    namespace: text('namespace'),
  }
}
