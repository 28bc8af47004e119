// Step 08's recording and alerting rules: promtool's own checks and unit tests (series in, alerts
// out, serving-lab.rules.test.yml), and that every alert has a test in which it fires; and the
// scrape configuration, where the promtool at hand knows Kubernetes service discovery.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import {
  monitoringDir,
  prometheusTool,
  promtoolKnowsKubernetes,
  rulesFile,
  rulesTestFile,
  scrapeConfigFile,
} from '../../scripts/lib/monitoring.ts'

const promtool = prometheusTool('promtool')
const skipReason = 'skipped: no promtool; run npm run build:tools (.ci/run does) or set PROMTOOL'

interface RuleGroups {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[]
}
interface RuleTests {
  rule_files: string[]
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[]
}

const rules = parse(readFileSync(rulesFile, 'utf8')) as RuleGroups
const ruleTests = parse(readFileSync(rulesTestFile, 'utf8')) as RuleTests
const alertNames = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])))

function runPromtool(args: string[]) {
  const result = spawnSync(promtool!, args, { cwd: monitoringDir, encoding: 'utf8' })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

describe('alerting rules, read as data', () => {
  it('alert on what the issue asks for', () => {
    expect(alertNames).toEqual(
      expect.arrayContaining([
        'ServingLabGroupUnready',
        'ServingLabQueueSaturated',
        'ServingLabTimeToFirstTokenHigh',
        'ServingLabBreakerOpen',
        'ServingLabLeaderChurn',
        'ServingLabMetricMissing',
        'ServingLabKVCacheNearFull',
        'ServingLabScaleUpStuck',
      ]),
    )
  })

  it('each alert has a unit test in which it fires', () => {
    const firing = new Set(
      ruleTests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0)),
    )
    const tested = new Set([...firing].map((a) => a.alertname))
    expect(alertNames.filter((name) => !tested.has(name))).toEqual([])
  })

  it('each alert says how bad it is and what happened', () => {
    for (const rule of rules.groups.flatMap((g) => g.rules).filter((r) => r.alert)) {
      const { labels, annotations } = rule as { labels?: { severity?: string }; annotations?: { summary?: string } }
      expect(labels?.severity, rule.alert).toMatch(/^(warning|critical)$/)
      expect(annotations?.summary, rule.alert).toBeTruthy()
    }
  })
})

// promtool is a Go program run once per test: 0.6 s on a quiet machine, 8.7 s at load 15 in CI.
const PROMTOOL_TIMEOUT_MS = 30_000

describe.skipIf(!promtool)(`promtool${promtool ? '' : ` (${skipReason})`}`, { timeout: PROMTOOL_TIMEOUT_MS }, () => {
  it('check rules: the file parses and every expression is valid PromQL', () => {
    const { status, output } = runPromtool(['check', 'rules', rulesFile])
    expect(output).toMatch(/SUCCESS: \d+ rules found/)
    expect(status).toBe(0)
  })

  it('test rules: every unit test passes', () => {
    const { status, output } = runPromtool(['test', 'rules', rulesTestFile])
    expect(output).not.toMatch(/FAILED/)
    expect(output).toMatch(/SUCCESS/)
    expect(status).toBe(0)
  })
})

const knowsKubernetes = promtool !== undefined && promtoolKnowsKubernetes(promtool)
const noKubernetesReason =
  'skipped: this promtool has no Kubernetes service discovery (Debian builds it without); run npm run build:tools'

describe.skipIf(!knowsKubernetes)(
  `scrape configuration${knowsKubernetes ? '' : ` (${promtool ? noKubernetesReason : skipReason})`}`,
  () => {
    it('check config: prometheus.yml and the rules it loads are valid', () => {
      const { status, output } = runPromtool(['check', 'config', scrapeConfigFile])
      expect(output).toMatch(/SUCCESS/)
      expect(output).not.toMatch(/FAILED/)
      expect(status).toBe(0)
    })
  },
)
