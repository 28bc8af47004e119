import { describe, expect, it } from 'vitest'
import { HttpError, toOpenAIError } from '../../workloads/shared/errors.ts'

describe('toOpenAIError', () => {
  it('answers an HttpError with its own status and fields', () => {
    const error = new HttpError(404, 'NotFoundError', 'The model `x` does not exist.', 'model', 'model_not_found')
    expect(toOpenAIError(error)).toEqual({
      statusCode: 404,
      body: {
        error: {
          message: 'The model `x` does not exist.',
          type: 'NotFoundError',
          param: 'model',
          code: 'model_not_found',
        },
      },
    })
  })

  it('keeps the status of a client error fastify raised, and names the field a validation error is about', () => {
    const validation = Object.assign(new Error('body/max_tokens must be integer'), {
      statusCode: 400,
      validation: [{ instancePath: '/max_tokens', params: {} }],
    })
    expect(toOpenAIError(validation).body.error).toMatchObject({ type: 'invalid_request_error', param: 'max_tokens' })
    const missing = Object.assign(new Error("body must have required property 'prompt'"), {
      statusCode: 400,
      validation: [{ instancePath: '', params: { missingProperty: 'prompt' } }],
    })
    expect(toOpenAIError(missing).body.error.param).toBe('prompt')
    expect(toOpenAIError(Object.assign(new Error('Request body is too large'), { statusCode: 413 })).statusCode).toBe(
      413,
    )
  })

  it('turns anything else into a 500 that does not leak the message', () => {
    const { statusCode, body } = toOpenAIError(new TypeError('secret detail'))
    expect(statusCode).toBe(500)
    expect(body.error.type).toBe('server_error')
    expect(body.error.message).not.toContain('secret')
    expect(toOpenAIError(Object.assign(new Error('boom'), { statusCode: 503 })).statusCode).toBe(500)
  })
})
