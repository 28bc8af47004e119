// A KubeContext that talks to a local server standing in for the API server.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import type { KubeContext } from '../../scripts/lib/kube.ts'

export function kubeContextFor(server: Server): KubeContext {
  const config = new KubeConfig()
  config.loadFromOptions({
    clusters: [
      { name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'nobody' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'nobody' }],
    currentContext: 'fake',
  })
  return { context: 'fake', config, core: config.makeApiClient(CoreV1Api) } as KubeContext
}
