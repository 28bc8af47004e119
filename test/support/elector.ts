// Test support: one leader-election candidate as a process, for the leader-election suite.
// Prints one JSON line per event on stdout, each with `at`, this machine's wall-clock time in
// milliseconds, so the suite can lay the processes' events on one timeline. The elector's log
// lines come out as events too (`event: 'log'`). Reads commands from stdin, one per line:
// `write VALUE` writes VALUE into the ConfigMap named by --configmap, fenced with the token of the
// last time this process led (a deposed leader's late write); `stop` stops gracefully and exits.
// SIGTERM does the same. The kubeconfig comes from $KUBECONFIG.
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { configMapAccess, fencedUpdate } from '../../workloads/shared/fencing.ts'
import { LeaderElector } from '../../workloads/shared/leader-election.ts'

const { values } = parseArgs({
  options: {
    namespace: { type: 'string' },
    lease: { type: 'string' },
    identity: { type: 'string' },
    configmap: { type: 'string', default: 'fenced' },
    'lease-duration-ms': { type: 'string' },
    'renew-deadline-ms': { type: 'string' },
    'retry-period-ms': { type: 'string' },
  },
})
const identity = values.identity!
const namespace = values.namespace!
const ms = (flag: string | undefined) => (flag === undefined ? undefined : Number(flag))

const emit = (event: string, details: object = {}) =>
  process.stdout.write(JSON.stringify({ event, identity, at: Date.now(), ...details }) + '\n')
const logAt =
  (level: string) =>
  (details: object, message: string): void => {
    const { err, ...rest } = details as { err?: unknown }
    emit('log', { level, message, ...rest, ...(err ? { error: String(err) } : {}) })
  }

const kubeConfig = new KubeConfig()
kubeConfig.loadFromDefault()
const core = kubeConfig.makeApiClient(CoreV1Api)

const elector = new LeaderElector({
  kubeConfig,
  namespace,
  name: values.lease!,
  identity,
  leaseDurationMs: ms(values['lease-duration-ms']),
  renewDeadlineMs: ms(values['renew-deadline-ms']),
  retryPeriodMs: ms(values['retry-period-ms']),
  log: { info: logAt('info'), warn: logAt('warn'), debug: logAt('debug') },
  callbacks: {
    onStartedLeading: ({ token }) => void emit('started-leading', { token }),
    onStoppedLeading: () => void emit('stopped-leading', { token: elector.token }),
    onNewLeader: (leader) => void emit('new-leader', { leader }),
  },
})

async function write(value: string) {
  const token = elector.token
  if (token === undefined) return emit('write', { ok: false, value, error: 'never led' })
  try {
    await fencedUpdate(configMapAccess(core, namespace, values.configmap!), token, (map) => ({
      ...map,
      data: { ...map.data, value },
    }))
    emit('write', { ok: true, value, token })
  } catch (error) {
    emit('write', { ok: false, value, token, error: (error as Error).name, message: (error as Error).message })
  }
}

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  await elector.stop()
  emit('exit')
  process.exit(0)
}

process.on('SIGTERM', () => void stop())
createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, ...rest] = line.trim().split(' ')
  if (command === 'write') void write(rest.join(' '))
  else if (command === 'stop') void stop()
})
emit('candidate', { pid: process.pid })
await elector.run()
emit('run-ended')
