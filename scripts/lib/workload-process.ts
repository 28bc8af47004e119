import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A workload running as a real process on a loopback port. */
export interface WorkloadProcess {
  url: string
  pid: number
  /** Settles when the process has exited. */
  exited: Promise<Exit>
  /** The last 64 KiB the process printed (stdout and stderr), for failure messages. */
  output(): string
  /** Sends the signal (SIGTERM by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>
}

/** A port nothing listens on right now; the OS picks it. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (!address || typeof address === 'string') throw new Error('could not find a free port')
  return address.port
}

export interface StartOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** The path that answers 200 once the workload is ready. */
  readyPath?: string
  timeoutMs?: number
  /** The address to listen on; 127.0.0.1 unless another process must reach it by an address the API accepts. */
  host?: string
}

/**
 * Starts `program args --port <free> --host 127.0.0.1` (or `options.host`) and resolves once `readyPath` answers
 * 200; rejects with the process's output if it exits first or is not ready in time.
 */
export async function startWorkload(
  program: string,
  args: readonly string[],
  options: StartOptions = {},
): Promise<WorkloadProcess> {
  const port = await freePort()
  const host = options.host ?? '127.0.0.1'
  const url = `http://${host}:${port}`
  const child = spawn(program, [...args, '--port', String(port), '--host', host], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64 * 1024)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  let hasExited = false
  void exited.then(() => (hasExited = true))

  const workload: WorkloadProcess = {
    url,
    pid: child.pid ?? -1,
    exited,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (!hasExited) child.kill(signal)
      return exited
    },
  }

  // A workload started from source with tsx takes a few seconds on a quiet machine, and beside
  // the end to end in CI (a load of 30 on 2 cores) over 30 s.
  const timeoutMs = options.timeoutMs ?? 90_000
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (hasExited) throw new Error(`${program} ${args.join(' ')} exited before it was ready:\n${output}`)
    const status = await fetch(url + (options.readyPath ?? '/health')).then(
      (r) => r.status,
      () => 0,
    )
    if (status === 200) return workload
    await delay(100)
  }
  await workload.stop('SIGKILL')
  throw new Error(`${program} ${args.join(' ')} was not ready within ${timeoutMs} ms:\n${output}`)
}
