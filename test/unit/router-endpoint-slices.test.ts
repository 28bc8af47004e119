// EndpointSlices in, the set of backends out: the pure reconciliation the discovery runs on
// every list and watch event.
import { describe, expect, it } from 'vitest'
import { backendsFromSlices } from '../../workloads/router/discovery/endpoint-slices.ts'
import type { EndpointSliceLike } from '../../workloads/router/discovery/endpoint-slices.ts'

type Conditions = { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null }
const endpoint = (ip: string, conditions?: Conditions) => ({ addresses: [ip], ...(conditions ? { conditions } : {}) })
const slice = (
  endpoints: EndpointSliceLike['endpoints'],
  ports = [{ name: 'http', port: 8000 }],
  addressType = 'IPv4',
): EndpointSliceLike => ({
  addressType,
  ports,
  endpoints,
})

describe('EndpointSlices to backends', () => {
  it('lists every endpoint of every slice on the named port, sorted', () => {
    const backends = backendsFromSlices(
      [
        slice([endpoint('10.0.0.2', { ready: true }), endpoint('10.0.0.1', { ready: true })]),
        slice([endpoint('10.0.1.5', { ready: true })]),
      ],
      'http',
    )
    expect(backends).toEqual([
      { address: '10.0.0.1:8000', ready: true },
      { address: '10.0.0.2:8000', ready: true },
      { address: '10.0.1.5:8000', ready: true },
    ])
  })

  it('marks not-ready and terminating endpoints not ready, unset conditions ready', () => {
    const backends = backendsFromSlices(
      [
        slice([
          endpoint('10.0.0.1', { ready: false, serving: false }),
          endpoint('10.0.0.2', { ready: false, serving: true, terminating: true }),
          endpoint('10.0.0.3', { ready: true, serving: true, terminating: false }),
          endpoint('10.0.0.4'),
          endpoint('10.0.0.5', { ready: null, terminating: null }),
        ]),
      ],
      'http',
    )
    expect(backends.map((b) => [b.address, b.ready])).toEqual([
      ['10.0.0.1:8000', false],
      ['10.0.0.2:8000', false],
      ['10.0.0.3:8000', true],
      ['10.0.0.4:8000', true],
      ['10.0.0.5:8000', true],
    ])
  })

  it('reads serving and terminating, since publishNotReadyAddresses keeps every endpoint ready', () => {
    // The EndpointSlice controller writes ready = publishNotReadyAddresses || (serving && !terminating):
    // with the flag set, a deleted or failing pod stays `ready`.
    const backends = backendsFromSlices(
      [
        slice([
          endpoint('10.0.0.1', { ready: true, serving: true, terminating: true }),
          endpoint('10.0.0.2', { ready: true, serving: false, terminating: true }),
          endpoint('10.0.0.3', { ready: true, serving: false, terminating: false }),
          endpoint('10.0.0.4', { ready: true, serving: true, terminating: false }),
          endpoint('10.0.0.5', { ready: false, serving: null }),
        ]),
      ],
      'http',
    )
    expect(backends.map((b) => [b.address, b.ready])).toEqual([
      ['10.0.0.1:8000', false],
      ['10.0.0.2:8000', false],
      // A pod failing its readiness probe, not deleted.
      ['10.0.0.3:8000', false],
      ['10.0.0.4:8000', true],
      // No `serving` (slices written by hand, or an old controller): `ready` decides.
      ['10.0.0.5:8000', false],
    ])
  })

  it('drops an endpoint removed from the slices, and a whole deleted slice', () => {
    const first = slice([endpoint('10.0.0.1'), endpoint('10.0.0.2')])
    const second = slice([endpoint('10.0.1.1')])
    expect(backendsFromSlices([first, second], 'http')).toHaveLength(3)
    const shrunk = slice([endpoint('10.0.0.2')])
    expect(backendsFromSlices([shrunk], 'http')).toEqual([{ address: '10.0.0.2:8000', ready: true }])
    expect(backendsFromSlices([], 'http')).toEqual([])
  })

  it('counts an address listed in two slices once, ready if either says so', () => {
    const backends = backendsFromSlices(
      [slice([endpoint('10.0.0.1', { ready: false })]), slice([endpoint('10.0.0.1', { ready: true })])],
      'http',
    )
    expect(backends).toEqual([{ address: '10.0.0.1:8000', ready: true }])
  })

  it('finds the port by name or number, and skips slices without it', () => {
    const metrics = slice([endpoint('10.0.0.9')], [{ name: 'metrics', port: 9090 }])
    const api = slice([endpoint('10.0.0.1')], [{ name: 'http', port: 8000 }])
    expect(backendsFromSlices([metrics, api], 'http').map((b) => b.address)).toEqual(['10.0.0.1:8000'])
    expect(backendsFromSlices([metrics, api], '9090').map((b) => b.address)).toEqual(['10.0.0.9:9090'])
    expect(backendsFromSlices([metrics, api], 'grpc')).toEqual([])
    const unnamed = slice([endpoint('10.0.0.3')], [{ name: '', port: 8000 }])
    expect(backendsFromSlices([unnamed], '').map((b) => b.address)).toEqual(['10.0.0.3:8000'])
    const allPorts = slice(
      [endpoint('10.0.0.4')],
      [{ name: 'all', port: null } as unknown as { name: string; port: number }],
    )
    expect(backendsFromSlices([allPorts], '8000').map((b) => b.address)).toEqual(['10.0.0.4:8000'])
  })

  it('puts IPv6 addresses in brackets', () => {
    expect(backendsFromSlices([slice([endpoint('fd00::1')], undefined, 'IPv6')], 'http')).toEqual([
      { address: '[fd00::1]:8000', ready: true },
    ])
  })

  it('survives slices with nothing in them', () => {
    expect(backendsFromSlices([{}, { endpoints: null, ports: null }, slice([{ addresses: [] }])], 'http')).toEqual([])
  })
})
