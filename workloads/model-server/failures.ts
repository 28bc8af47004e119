import { HttpError } from '../shared/errors.ts'
import type { Random } from './random.ts'

interface Failure {
  status: number
  /** The error's `type`, named like the OpenAI client's exception for that status, as vLLM does. */
  type: string
  code: string
  message: (model: string) => string
  /** How long the request hangs before the error, as a real timeout would. */
  delayMs?: number
}

/** Every failure that can be injected, and the OpenAI-shaped error it answers with. */
export const failureTable = {
  rate_limit: {
    status: 429,
    type: 'RateLimitError',
    code: 'rate_limit_exceeded',
    message: (model) => `Rate limit reached for ${model} (injected failure).`,
  },
  invalid_api_key: {
    status: 401,
    type: 'AuthenticationError',
    code: 'invalid_api_key',
    message: () => 'Incorrect API key provided (injected failure).',
  },
  bad_request: {
    status: 400,
    type: 'BadRequestError',
    code: 'invalid_request',
    message: () => 'The request could not be processed (injected failure).',
  },
  context_length: {
    status: 400,
    type: 'BadRequestError',
    code: 'context_length_exceeded',
    message: (model) => `This request exceeds the maximum context length of ${model} (injected failure).`,
  },
  model_not_found: {
    status: 404,
    type: 'NotFoundError',
    code: 'model_not_found',
    message: (model) => `The model \`${model}\` does not exist (injected failure).`,
  },
  server_error: {
    status: 500,
    type: 'InternalServerError',
    code: 'server_error',
    message: () => 'The server had an error while processing your request (injected failure).',
  },
  service_unavailable: {
    status: 503,
    type: 'ServiceUnavailableError',
    code: 'service_unavailable',
    message: () => 'The server is overloaded or not ready yet (injected failure).',
  },
  timeout: {
    status: 504,
    type: 'GatewayTimeoutError',
    code: 'timeout',
    message: () => 'The request timed out (injected failure).',
    delayMs: 5000,
  },
} satisfies Record<string, Failure>

export type FailureType = keyof typeof failureTable
export const failureTypes = Object.keys(failureTable) as FailureType[]

export interface FailureSettings {
  /** Share of requests that fail, 0 to 1. */
  rate: number
  /** The failures to pick from; empty means all of them. */
  types: FailureType[]
}

/** The JSON schema of `PUT /admin/failures`. */
export const failureSettingsSchema = {
  type: 'object',
  required: ['rate'],
  additionalProperties: false,
  properties: {
    rate: { type: 'number', minimum: 0, maximum: 1 },
    types: { type: 'array', items: { type: 'string', enum: failureTypes }, uniqueItems: true },
  },
} as const

/** The failure settings, changeable at runtime, and the draw for each request. */
export class FailureInjector {
  #settings: FailureSettings

  constructor(
    settings: FailureSettings,
    private readonly random: Random,
  ) {
    this.#settings = { rate: settings.rate, types: [...settings.types] }
  }

  get settings(): FailureSettings {
    return { rate: this.#settings.rate, types: [...this.#settings.types] }
  }

  set settings(settings: FailureSettings) {
    this.#settings = { rate: settings.rate, types: [...settings.types] }
  }

  /** The failure this request gets, or null; draws from the random source only when failures are on. */
  pick(): FailureType | null {
    const { rate, types } = this.#settings
    if (rate <= 0 || this.random() >= rate) return null
    const candidates = types.length > 0 ? types : failureTypes
    return candidates[Math.floor(this.random() * candidates.length)]!
  }
}

/** The error a failure answers with. */
export function failureError(type: FailureType, model: string): HttpError {
  const failure: Failure = failureTable[type]
  return new HttpError(failure.status, failure.type, failure.message(model), null, failure.code)
}

export function failureDelayMs(type: FailureType): number {
  const failure: Failure = failureTable[type]
  return failure.delayMs ?? 0
}
