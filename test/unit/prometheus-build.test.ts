import { describe, expect, it } from 'vitest'
import { VERSIONS } from '../../scripts/lib/build/binaries.ts'
import { builtPrometheusPath, prometheusLdflags, prometheusRelease } from '../../scripts/lib/build/prometheus.ts'

describe('prometheusRelease', () => {
  it("reads the proxy's v0.3MM.P as Prometheus 3.MM.P", () => {
    expect(prometheusRelease('v0.316.0')).toBe('3.16.0')
    expect(prometheusRelease('v0.300.1')).toBe('3.0.1')
    expect(prometheusRelease('v0.55.1')).toBe('0.55.1')
  })

  it('refuses a version that is not the module numbering', () => {
    expect(() => prometheusRelease('v3.16.0')).toThrow(/not a Prometheus module version/)
  })
})

describe('the Prometheus build', () => {
  it('is cached under the release it is, beside the other binaries', () => {
    expect(builtPrometheusPath('promtool')).toMatch(
      new RegExp(`/bin/prometheus-v${prometheusRelease(VERSIONS.prometheus).replaceAll('.', '\\.')}/promtool$`),
    )
  })

  it('stamps --version as upstream does, with the build date in its format', () => {
    const flags = prometheusLdflags(new Date('2026-01-02T03:04:05.678Z'))
    expect(flags).toContain(`-X github.com/prometheus/common/version.Version=${prometheusRelease(VERSIONS.prometheus)}`)
    expect(flags).toContain('-X github.com/prometheus/common/version.BuildDate=20260102-03:04:05')
  })
})
