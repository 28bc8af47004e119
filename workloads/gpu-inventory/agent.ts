/**
 * The agent: one per node. It reads the node's GPUs, from `nvidia-smi` every poll interval where
 * the program runs, otherwise from the node's labels and the pods bound to it (watched, so a
 * pod bound or gone changes the figures at once), and writes them as the node's ResourceSlice
 * whenever a figure changed. Writes are serialized; only the latest reading is written.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { CoreV1Api, ResourceV1Api } from '@kubernetes/client-node'
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node'
import { listAndWatch, type WatchLog } from '../shared/list-and-watch.ts'
import type { GpuInventoryConfig } from './config.ts'
import { gpusFromPods } from './from-pods.ts'
import { readNvidiaSmi, type Gpu } from './nvidia-smi.ts'
import { resourceSlice, sliceName, type InventorySource } from './resource-slice.ts'

export type AgentSettings = Pick<
  GpuInventoryConfig,
  'nodeName' | 'source' | 'nvidiaSmi' | 'pollIntervalMs' | 'relistIntervalMs'
>

export interface AgentLog extends WatchLog {
  info(details: object, message: string): void
  child(bindings: Record<string, unknown>): AgentLog
}

export interface AgentStatus {
  node: string
  /** undefined until the agent has decided (auto) or read once. */
  source: InventorySource | undefined
  gpus: Gpu[]
  /** Times the ResourceSlice was written. */
  writes: number
}

const statusOf = (error: unknown) => (error as { code?: number } | null)?.code

export class GpuInventoryAgent {
  readonly #settings: AgentSettings
  readonly #core: CoreV1Api
  readonly #resource: ResourceV1Api
  readonly #log: AgentLog
  readonly #kubeConfig: KubeConfig
  readonly #stopping = new AbortController()
  #source: InventorySource | undefined
  #node: V1Node | undefined
  #latest: Gpu[] | undefined
  #written = ''
  #writes = 0
  #writing: Promise<void> = Promise.resolve()
  #running: Promise<unknown> = Promise.resolve()

  constructor(options: { settings: AgentSettings; kubeConfig: KubeConfig; log: AgentLog }) {
    this.#settings = options.settings
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api)
    this.#resource = options.kubeConfig.makeApiClient(ResourceV1Api)
    this.#log = options.log
    this.#kubeConfig = options.kubeConfig
  }

  status(): AgentStatus {
    return { node: this.#settings.nodeName, source: this.#source, gpus: this.#latest ?? [], writes: this.#writes }
  }

  start(): void {
    this.#running = this.#run()
  }

  async stop(): Promise<void> {
    this.#stopping.abort()
    await this.#running
    await this.#writing
  }

  async #run(): Promise<unknown> {
    const { source, nvidiaSmi } = this.#settings
    if (source !== 'pods') {
      const gpus = await readNvidiaSmi(nvidiaSmi)
      if (gpus) return this.#pollNvidiaSmi(gpus)
      if (source === 'nvidia-smi') throw new Error(`${nvidiaSmi} was not found, and --source is nvidia-smi`)
      this.#log.info({ program: nvidiaSmi }, 'nvidia-smi not found: reporting from the node labels and its pods')
    }
    return this.#watchPods()
  }

  async #pollNvidiaSmi(first: Gpu[]): Promise<void> {
    this.#source = 'nvidia-smi'
    const signal = this.#stopping.signal
    let gpus: Gpu[] | undefined = first
    while (!signal.aborted) {
      try {
        this.#node ??= await this.#core.readNode({ name: this.#settings.nodeName })
        gpus ??= await readNvidiaSmi(this.#settings.nvidiaSmi)
        if (gpus) this.#publish(gpus)
      } catch (error) {
        this.#log.warn({ err: error }, 'reading the GPUs failed; trying again')
      }
      gpus = undefined
      await sleep(this.#settings.pollIntervalMs, undefined, { signal }).catch(() => {})
    }
  }

  #watchPods(): Promise<unknown> {
    this.#source = 'pods'
    const name = this.#settings.nodeName
    let pods = new Map<string, V1Pod>()
    let unlabelled = false
    const common = {
      kubeConfig: this.#kubeConfig,
      relistIntervalMs: this.#settings.relistIntervalMs,
      signal: this.#stopping.signal,
    }
    const recompute = () => {
      if (!this.#node) return
      const gpus = gpusFromPods(this.#node, pods.values())
      if (gpus) this.#publish(gpus)
      else if (!unlabelled) {
        unlabelled = true
        this.#log.warn({ node: name }, 'the node has no nvidia.com/gpu.memory label: nothing to report')
      }
    }
    return Promise.all([
      listAndWatch<V1Node>({
        ...common,
        path: '/api/v1/nodes',
        fieldSelector: `metadata.name=${name}`,
        list: () => this.#core.listNode({ fieldSelector: `metadata.name=${name}` }),
        log: this.#log.child({ watch: 'node' }),
        onChange: (nodes) => {
          this.#node = nodes.get(name)
          recompute()
        },
      }),
      listAndWatch<V1Pod>({
        ...common,
        path: '/api/v1/pods',
        fieldSelector: `spec.nodeName=${name}`,
        list: () => this.#core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` }),
        keyOf: (pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`,
        log: this.#log.child({ watch: 'pods' }),
        onChange: (current) => {
          pods = current
          recompute()
        },
      }),
    ])
  }

  /** Writes the slice if the figures changed since the last write; the latest call wins. */
  #publish(gpus: Gpu[]): void {
    this.#latest = gpus
    this.#writing = this.#writing.then(async () => {
      const latest = this.#latest!
      if (JSON.stringify(latest) === this.#written || this.#stopping.signal.aborted) return
      try {
        await this.#write(latest)
        this.#written = JSON.stringify(latest)
        this.#writes++
      } catch (error) {
        // The next change or poll writes again; a 409 means someone else wrote, read afresh then.
        this.#log.warn({ err: error, code: statusOf(error) }, 'writing the ResourceSlice failed')
      }
    })
  }

  async #write(gpus: Gpu[]): Promise<void> {
    const node = this.#node!
    const name = sliceName(node.metadata!.name!)
    const current = await this.#resource.readResourceSlice({ name }).catch((error: unknown) => {
      if (statusOf(error) === 404) return undefined
      throw error
    })
    const body = resourceSlice(node, gpus, this.#source!, (current?.spec.pool.generation ?? 0) + 1)
    if (!current) await this.#resource.createResourceSlice({ body })
    else {
      body.metadata!.resourceVersion = current.metadata?.resourceVersion
      await this.#resource.replaceResourceSlice({ name, body })
    }
  }
}
