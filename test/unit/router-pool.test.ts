// The pool of backends as discovery changes it, with health checks against small HTTP servers on loopback.
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BackendPool } from '../../workloads/router/pool.ts'

const silent = { child: () => silent, info: () => {}, warn: () => {} } as unknown as FastifyBaseLogger
const settings = {
  health: { path: '/ready', intervalMs: 20, timeoutMs: 20, healthyThreshold: 1, unhealthyThreshold: 1 },
  outlier: { consecutiveErrors: 1, baseEjectionMs: 60_000, maxEjectionMs: 60_000 },
  halfOpenRequests: 1,
}

const servers: Server[] = []
let addresses: string[] = []
beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const server = createServer((_request, response) => response.end('ok'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    servers.push(server)
  }
  addresses = servers.map((s) => `127.0.0.1:${(s.address() as AddressInfo).port}`).sort()
})
afterAll(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))))

let pool: BackendPool
afterEach(() => pool?.stop())

async function until(check: () => boolean) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(check()).toBe(true)
}

describe('backend pool', () => {
  it('offers discovered backends once a health check passed, by address', async () => {
    pool = new BackendPool(settings, silent)
    pool.update(addresses.map((address) => ({ address, ready: true })))
    await until(() => pool.candidates().length === 3)
    expect(pool.candidates().map((b) => b.address)).toEqual(addresses)
  })

  it('never offers a backend removed from discovery again, and reports it removed', async () => {
    const removed: string[] = []
    pool = new BackendPool(settings, silent, (address) => removed.push(address))
    pool.update(addresses.map((address) => ({ address, ready: true })))
    await until(() => pool.candidates().length === 3)
    pool.update([addresses[0]!, addresses[2]!].map((address) => ({ address, ready: true })))
    expect(removed).toEqual([addresses[1]])
    expect(pool.all.map((b) => b.address)).toEqual([addresses[0], addresses[2]])
    await new Promise((resolve) => setTimeout(resolve, 60)) // its health checks have stopped too
    expect(pool.candidates().map((b) => b.address)).not.toContain(addresses[1])
    // The others stay offered (a health check slowed by a loaded machine may pass a moment later).
    await until(
      () =>
        pool
          .candidates()
          .map((b) => b.address)
          .join() === [addresses[0], addresses[2]].join(),
    )
  })

  it('keeps a backend’s state when only its readiness changes, and offers it only while ready', async () => {
    pool = new BackendPool(settings, silent)
    pool.update(addresses.map((address) => ({ address, ready: true })))
    await until(() => pool.candidates().length === 3)
    const backend = pool.all[0]!
    backend.breaker.failure(backend.breaker.acquire()!) // one error in a row ejects with these settings
    expect(backend.breaker.state).toBe('open')
    pool.update(addresses.map((address, i) => ({ address, ready: i !== 1 })))
    expect(pool.all[0]).toBe(backend)
    expect(backend.status()).toMatchObject({ breaker: 'open', ready: true, healthy: true })
    expect(pool.candidates().map((b) => b.address)).toEqual([addresses[2]])
    expect(pool.all[1]!.status()).toMatchObject({ ready: false, healthy: true, breaker: 'closed', ejectedUntil: null })
  })

  it('leaves out the backends a request already tried', async () => {
    pool = new BackendPool(settings, silent)
    pool.update(addresses.map((address) => ({ address, ready: true })))
    await until(() => pool.candidates().length === 3)
    expect(pool.candidates(new Set([pool.all[1]!])).map((b) => b.address)).toEqual([addresses[0], addresses[2]])
  })

  it('takes a backend out when its health checks fail', async () => {
    const failing = createServer((_request, response) => response.writeHead(503).end())
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve))
    try {
      pool = new BackendPool(settings, silent)
      pool.update([{ address: `127.0.0.1:${(failing.address() as AddressInfo).port}`, ready: true }])
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(pool.candidates()).toEqual([])
      expect(pool.all[0]!.status().healthy).toBe(false)
    } finally {
      pool.stop()
      await new Promise((resolve) => failing.close(resolve))
    }
  })
})
