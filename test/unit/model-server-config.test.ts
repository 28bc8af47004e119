import { describe, expect, it } from 'vitest'
import { ConfigError, defaults, loadConfig, validateConfig } from '../../workloads/model-server/config.ts'

describe('model-server configuration', () => {
  it('uses the defaults when nothing is set, serving the model under its own name', () => {
    const config = loadConfig([], {})
    expect(config).toEqual({ ...defaults, servedModelName: defaults.model })
    expect(config.port).toBe(8000)
    expect(config.model).toBe('meta-llama/Llama-3.1-70B-Instruct')
  })

  it('takes environment variables over defaults, including the downward API fields', () => {
    const config = loadConfig([], { PORT: '9000', SERVED_MODEL_NAME: 'llama', POD_NAME: 'llama-0', POD_INDEX: '2' })
    expect(config.port).toBe(9000)
    expect(config.servedModelName).toBe('llama')
    expect(config.podName).toBe('llama-0')
    expect(config.podIndex).toBe(2)
  })

  it('takes flags over environment variables', () => {
    const config = loadConfig(['--port', '9100', '--max-model-len=4096'], { PORT: '9000', MAX_MODEL_LEN: '2048' })
    expect(config.port).toBe(9100)
    expect(config.maxModelLen).toBe(4096)
  })

  it('derives the served name from the model chosen by a flag', () => {
    expect(loadConfig(['--model', 'deepseek-ai/DeepSeek-R1'], {}).servedModelName).toBe('deepseek-ai/DeepSeek-R1')
  })

  it('treats an empty environment variable as unset', () => {
    expect(loadConfig([], { PORT: '' }).port).toBe(8000)
  })

  it('names the flag or variable whose value is not an integer', () => {
    expect(() => loadConfig(['--seed', 'abc'], {})).toThrow(/--seed must be an integer, got "abc"/)
    expect(() => loadConfig([], { TIME_TO_FIRST_TOKEN_MS: '1.5' })).toThrow(/TIME_TO_FIRST_TOKEN_MS must be an integer/)
  })

  it('rejects an unknown flag', () => {
    expect(() => loadConfig(['--tensor-parallel-size', '2'], {})).toThrow(ConfigError)
  })

  it('reports every broken rule, naming the field', () => {
    const errors = validateConfig({ ...defaults, port: 70000, servedModelName: '', maxTokensDefault: 9000, logLevel: 'loud', podIndex: -1 })
    expect(errors).toEqual([
      'port must be an integer from 0 to 65535 (got 70000)',
      'servedModelName must not be empty',
      'maxTokensDefault must not exceed maxModelLen (9000 > 8192)',
      expect.stringMatching(/^logLevel must be one of .* \(got loud\)$/),
      'podIndex must be an integer at least 0 (got -1)',
    ])
  })

  it('refuses to start with an invalid configuration, listing the problems', () => {
    expect(() => loadConfig(['--inter-token-latency-ms=-5'], {})).toThrow(/interTokenLatencyMs must be an integer at least 0 \(got -5\)/)
  })

  it('accepts the defaults as valid', () => {
    expect(validateConfig({ ...defaults, servedModelName: defaults.model })).toEqual([])
  })
})
