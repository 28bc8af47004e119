import { createServer, connect } from 'node:net'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Connection, parseFrame } from '../../workloads/model-server/group/frames.ts'
import type { Frame } from '../../workloads/model-server/group/frames.ts'

describe('model-server group frames', () => {
  it('parses each kind of frame', () => {
    expect(
      parseFrame('{"type":"hello","nodeRank":1,"nnodes":2,"gpusPerNode":4,"model":"m","generation":0,"proof":"ab"}'),
    ).toEqual({
      type: 'hello',
      nodeRank: 1,
      nnodes: 2,
      gpusPerNode: 4,
      model: 'm',
      generation: 0,
      proof: 'ab',
    })
    expect(parseFrame('{"type":"challenge","nonce":"n"}')).toEqual({ type: 'challenge', nonce: 'n' })
    expect(parseFrame('{"type":"status","state":"ready","generation":3,"members":[0,1],"reason":null}')?.type).toBe(
      'status',
    )
    expect(parseFrame('{"type":"step","id":7}')).toEqual({ type: 'step', id: 7 })
    expect(parseFrame('{"type":"heartbeat"}')).toEqual({ type: 'heartbeat' })
  })

  it('rejects lines that are not frames', () => {
    for (const line of [
      '',
      'hello',
      '[]',
      'null',
      '{"type":"launch"}',
      '{"type":"hello","nodeRank":1,"nnodes":2,"gpusPerNode":4,"model":"m","generation":0}',
      '{"type":"step","id":"7"}',
      '{"type":"status","state":"ready","generation":1,"members":null}',
    ]) {
      expect(parseFrame(line)).toBeNull()
    }
  })

  describe('over a socket', () => {
    const sockets: Socket[] = []
    afterEach(() => sockets.forEach((s) => s.destroy()))

    it('splits frames however the bytes arrive, and reports a bad line', async () => {
      const received: Frame[] = []
      const bad: string[] = []
      const server = createServer((socket) => {
        sockets.push(socket)
        new Connection(
          socket,
          (frame) => received.push(frame),
          (line) => bad.push(line),
        )
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const port = (server.address() as { port: number }).port
      const client = connect(port, '127.0.0.1')
      sockets.push(client)
      await new Promise((resolve) => client.once('connect', resolve))
      client.write('{"type":"ack","id":1}\n{"type":"a')
      client.write('ck","id":2}\nnot a frame\n{"type":"goodbye","reason":"done"}\n')
      while (received.length < 3) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(received).toEqual([
        { type: 'ack', id: 1 },
        { type: 'ack', id: 2 },
        { type: 'goodbye', reason: 'done' },
      ])
      expect(bad).toEqual(['not a frame'])
      server.close()
    })
  })
})
