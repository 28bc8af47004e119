// execInPod (scripts/lib/kube.ts), which step 02's DNS checks run their lookups with, against a
// fake API server that speaks the exec protocol: a WebSocket (v4.channel.k8s.io) whose binary
// messages start with a channel byte, 1 stdout, 2 stderr, 3 the final Status. No cluster here
// runs containers, so this is where stdout, stderr, exit codes and failures are pinned down.
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { V1Status } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execExitCode, execInPod, type KubeContext } from '../../scripts/lib/kube.ts'
import { kubeContextFor } from './fake-api-server.ts'

/** One unmasked binary frame from server to client. */
function frame(channel: number, payload: string | Buffer, opcode = 0x2): Buffer {
  const data = opcode === 0x2 ? Buffer.concat([Buffer.from([channel]), Buffer.from(payload)]) : Buffer.from(payload)
  const header =
    data.length < 126
      ? Buffer.from([0x80 | opcode, data.length])
      : Buffer.from([0x80 | opcode, 126, data.length >> 8, data.length & 0xff])
  return Buffer.concat([header, data])
}
const close = () => frame(0, Buffer.from([0x03, 0xe8]), 0x8)
/** Writes the frames, then ends the connection as the API server does after its close frame. */
const send = (socket: Socket, ...frames: Buffer[]) => socket.end(Buffer.concat(frames))
const status = (body: V1Status) => frame(3, JSON.stringify(body))

/** What the fake server does, by pod name. */
const scripts: Record<string, (socket: Socket) => void> = {
  ok(socket) {
    send(
      socket,
      frame(1, '[{"name":"llama-3-70b-0'),
      frame(2, 'a warning\n'),
      frame(1, '"}]\n'),
      status({ status: 'Success' }),
      close(),
    )
  },
  exit3(socket) {
    send(
      socket,
      frame(1, 'partial'),
      status({
        status: 'Failure',
        reason: 'NonZeroExitCode',
        message: 'command terminated with non-zero exit code',
        details: { causes: [{ reason: 'ExitCode', message: '3' }] },
      }),
      close(),
    )
  },
  notFound(socket) {
    send(
      socket,
      status({ status: 'Failure', message: 'exec: "nslookup": executable file not found in $PATH' }),
      close(),
    )
  },
  drop(socket) {
    send(socket, frame(1, 'half'), close())
  },
  hang() {},
}

let server: Server
let kube: KubeContext
const sockets = new Set<Socket>()

beforeAll(async () => {
  server = createServer((_request, response) => response.writeHead(404).end('{"kind":"Status","code":404}'))
  server.on('upgrade', (request, socket: Socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    const pod = /\/pods\/([^/]+)\/exec/.exec(request.url ?? '')?.[1] ?? ''
    const script = scripts[pod]
    if (!script) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const accept = createHash('sha1')
      .update(`${request.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64')
    socket.write(
      [
        'HTTP/1.1 101 Switching Protocols',
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Accept: ${accept}`,
        'Sec-WebSocket-Protocol: v4.channel.k8s.io',
        '',
        '',
      ].join('\r\n'),
    )
    script(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  kube = kubeContextFor(server)
})

afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  await new Promise((resolve) => server.close(resolve))
})

describe('execInPod', () => {
  it('collects stdout and stderr apart, and exit code 0 on Success', async () => {
    const result = await execInPod(kube, 'lab-02', 'ok', 'model-server', ['node', '-e', '...'])
    expect(result).toEqual({ stdout: '[{"name":"llama-3-70b-0"}]\n', stderr: 'a warning\n', exitCode: 0 })
  })

  it('reports the exit code of a command that failed, with what it printed', async () => {
    const result = await execInPod(kube, 'lab-02', 'exit3', 'model-server', ['false'])
    expect(result).toEqual({ stdout: 'partial', stderr: '', exitCode: 3 })
  })

  it('rejects when the command could not run at all, with the reason', async () => {
    await expect(execInPod(kube, 'lab-02', 'notFound', 'model-server', ['nslookup', 'x'])).rejects.toThrow(
      /executable file not found/,
    )
  })

  it('rejects when the stream ends without a status', async () => {
    await expect(execInPod(kube, 'lab-02', 'drop', 'model-server', ['true'])).rejects.toThrow(
      /closed without an exit status/,
    )
  })

  it('rejects when the API server refuses the exec, naming the pod', async () => {
    await expect(execInPod(kube, 'lab-02', 'missing', 'model-server', ['true'])).rejects.toThrow(
      /lab-02\/missing.*refused.*404/,
    )
  })

  it('gives up after its timeout', async () => {
    await expect(execInPod(kube, 'lab-02', 'hang', 'model-server', ['sleep', '60'], 300)).rejects.toThrow(
      /did not finish within 0.3 s/,
    )
  })
})

describe('execExitCode', () => {
  it('reads the ExitCode cause of NonZeroExitCode', () => {
    expect(
      execExitCode({
        status: 'Failure',
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: '2' }] },
      }),
    ).toBe(2)
    expect(execExitCode({ status: 'Success' })).toBe(0)
  })

  it('throws on a failure without an exit code', () => {
    expect(() => execExitCode({ status: 'Failure', reason: 'InternalError', message: 'container not found' })).toThrow(
      /container not found/,
    )
  })
})
