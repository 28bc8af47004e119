// `--wait-for-rendezvous`: the model server as an init container that holds a worker back until
// its leader's rendezvous port accepts connections (the LeaderWorkerSet lesson: a worker that
// starts first only burns restarts). It needs none of the serving settings, GROUP_SECRET included.
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConfigError, rangeRules, readSettings } from '../shared/config.ts'
import { defaults, settings, usage, type ModelServerConfig } from './config.ts'

export type WaitConfig = Pick<ModelServerConfig, 'masterAddr' | 'masterPort' | 'nodeRank' | 'waitTimeoutMs'>

const flag = '--wait-for-rendezvous'

/**
 * The wait's settings, or null when this mode is not asked for. The flag may stand alone
 * (`--wait-for-rendezvous`), and only the settings the wait needs are checked.
 */
export function loadWaitConfig(argv: readonly string[], env: NodeJS.ProcessEnv): WaitConfig | null {
  const args = argv.map((arg, i) =>
    arg === flag && !['true', 'false'].includes(argv[i + 1] ?? '') ? `${flag}=true` : arg,
  )
  const config = readSettings(defaults, settings, args, env, usage)
  if (!config.waitForRendezvous) return null
  const errors: string[] = []
  const { integerIn } = rangeRules(config, errors)
  if (config.masterAddr === '') errors.push('MASTER_ADDR must not be empty')
  integerIn('masterPort', 1, 65535)
  integerIn('nodeRank', 0)
  integerIn('waitTimeoutMs', 1)
  if (errors.length > 0) throw new ConfigError(`invalid configuration:\n  ${errors.join('\n  ')}`)
  return config
}

/** One attempt: true once connected, else why not (an error code, or no answer within `timeoutMs`). */
function tryConnect(host: string, port: number, timeoutMs: number): Promise<true | string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs })
    const done = (result: true | string) => {
      socket.destroy()
      resolve(result)
    }
    socket.once('connect', () => done(true))
    socket.once('timeout', () => done('no answer'))
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message))
  })
}

/**
 * Connects to MASTER_ADDR:MASTER_PORT until it works, with a capped backoff and a line per
 * failed attempt, at most `waitTimeoutMs`. Rank 0 is the leader and has nothing to wait for.
 * Resolves true when connected (or rank 0), false on timeout.
 */
export async function waitForRendezvous(config: WaitConfig, print: (line: string) => void): Promise<boolean> {
  const address = `${config.masterAddr}:${config.masterPort}`
  if (config.nodeRank === 0) {
    print(`node rank 0 is the leader: nothing to wait for`)
    return true
  }
  const deadline = Date.now() + config.waitTimeoutMs
  let backoffMs = 250
  for (let attempt = 1; ; attempt++) {
    const left = deadline - Date.now()
    const result = await tryConnect(config.masterAddr, config.masterPort, Math.max(1, Math.min(left, 5000)))
    if (result === true) {
      print(`the leader's rendezvous at ${address} accepts connections (attempt ${attempt})`)
      return true
    }
    const pause = Math.min(backoffMs, deadline - Date.now())
    if (pause <= 0) {
      print(
        `gave up after ${config.waitTimeoutMs} ms: the leader's rendezvous at ${address} never accepted a connection`,
      )
      return false
    }
    print(
      `waiting for the leader's rendezvous at ${address}: attempt ${attempt} failed (${result}), next in ${pause} ms`,
    )
    await sleep(pause)
    backoffMs = Math.min(backoffMs * 2, 5000)
  }
}
