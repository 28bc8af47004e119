// Test support: a TCP proxy that can stop forwarding, to cut a process off from a server the way
// a network partition does (nothing arrives, nothing is refused), rather than by closing
// connections, which a client notices at once. TLS passes through untouched.
import { connect, createServer, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  /** From now on every byte, either way, on old connections and new, is dropped. */
  cut(): void
  /** Forwards new connections again; those that lost bytes during the cut are closed. */
  heal(): void
  close(): Promise<void>
}

interface Pair {
  client: Socket
  upstream?: Socket
  live: boolean
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>()
  let forwarding = true
  const end = (pair: Pair) => {
    pairs.delete(pair)
    pair.client.destroy()
    pair.upstream?.destroy()
  }
  const server = createServer((client) => {
    const pair: Pair = { client, live: forwarding }
    pairs.add(pair)
    client.on('error', () => end(pair))
    client.on('close', () => end(pair))
    if (!pair.live) return
    const upstream = connect(target.port, target.host)
    pair.upstream = upstream
    upstream.on('error', () => end(pair))
    upstream.on('close', () => end(pair))
    client.on('data', (data) => void (pair.live && upstream.write(data)))
    upstream.on('data', (data) => void (pair.live && client.write(data)))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('the proxy has no port')
  return {
    port: address.port,
    cut() {
      forwarding = false
      for (const pair of pairs) pair.live = false
    },
    heal() {
      forwarding = true
      for (const pair of [...pairs]) if (!pair.live) end(pair)
    },
    async close() {
      for (const pair of [...pairs]) end(pair)
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
