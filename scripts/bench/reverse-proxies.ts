import { spawn } from 'node:child_process'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { freePort } from '../lib/workload-process.ts'

/** A reverse proxy running as this user's own process on a loopback port. */
export interface ProxyProcess {
  url: string
  pid: number
  stop(): Promise<unknown>
}

/**
 * nginx in front of one backend: a temporary prefix and config, `daemon off`, one worker (the
 * router is one process too), kept-alive upstream connections, no buffering (streams pass as
 * they come).
 */
export async function startNginx(dir: string, backendUrl: string): Promise<ProxyProcess> {
  const prefix = join(dir, 'nginx')
  await mkdir(prefix)
  // Run as root, nginx's workers switch to an unprivileged user that must reach the temporary files.
  await chmod(dir, 0o755)
  await chmod(prefix, 0o755)
  const port = await freePort()
  const config = `
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/client-body;
  proxy_temp_path ${prefix}/proxy;
  upstream backends {
    server ${new URL(backendUrl).host};
    keepalive 512;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`
  await writeFile(join(prefix, 'nginx.conf'), config)
  const argv = ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')]
  // SIGQUIT is nginx's graceful stop.
  return startProxy('nginx', argv, `http://127.0.0.1:${port}`, 'SIGQUIT', `${prefix}/error.log`)
}

/**
 * HAProxy in front of one backend, in the foreground (`-db`) with one thread, HTTP mode with
 * kept-alive client and server connections (`http-reuse always`, as nginx's `keepalive`).
 */
export async function startHaproxy(dir: string, backendUrl: string): Promise<ProxyProcess> {
  const prefix = join(dir, 'haproxy')
  await mkdir(prefix)
  const port = await freePort()
  const config = `
global
  nbthread 1
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend proxy
  bind 127.0.0.1:${port}
  default_backend backends

backend backends
  http-reuse always
  server model-server ${new URL(backendUrl).host}
`
  await writeFile(join(prefix, 'haproxy.cfg'), config)
  // SIGUSR1 is HAProxy's soft stop: it finishes what it has in flight.
  return startProxy('haproxy', ['-db', '-f', join(prefix, 'haproxy.cfg')], `http://127.0.0.1:${port}`, 'SIGUSR1')
}

/** Starts the proxy and resolves once `/health` answers 200 through it. */
async function startProxy(
  program: string,
  argv: string[],
  url: string,
  stopSignal: NodeJS.Signals,
  logHint = 'its output',
): Promise<ProxyProcess> {
  const child = spawn(program, argv, { stdio: 'ignore' })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(stopSignal)
    return exited
  }
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${program} exited with code ${child.exitCode}; see ${logHint}`)
    const status = await fetch(`${url}/health`).then(
      (r) => r.status,
      () => 0,
    )
    if (status === 200) return { url, pid: child.pid!, stop }
    await delay(100)
  }
  await stop()
  throw new Error(`${program} did not answer within 10 s`)
}
