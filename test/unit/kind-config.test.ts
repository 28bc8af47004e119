import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { KIND_NODE_IMAGE, kindConfig } from '../../scripts/lib/cluster/kind/config.ts'
import { SERVICE_SUBNET } from '../../scripts/lib/cluster/kind/service-network.ts'
import { fleetNodes, LABELS, loadTopology } from '../../scripts/lib/cluster/topology.ts'

interface KindNode {
  role: string
  image: string
  labels?: Record<string, string>
  extraMounts?: { hostPath: string; containerPath: string }[]
}

describe('kindConfig', () => {
  it('one control plane and a labelled worker per node of the topology', async () => {
    const config = parse(
      kindConfig('serving-lab', fleetNodes(await loadTopology('lab')), {
        image: KIND_NODE_IMAGE,
        gpuPassthrough: false,
      }),
    ) as { name: string; networking: { serviceSubnet: string }; nodes: KindNode[] }
    expect(config.name).toBe('serving-lab')
    expect(config.networking.serviceSubnet).toBe(SERVICE_SUBNET)
    expect(config.nodes.map((n) => n.role)).toEqual(['control-plane', 'worker', 'worker'])
    expect(config.nodes.every((n) => n.image === KIND_NODE_IMAGE)).toBe(true)
    expect(config.nodes[1]!.labels![LABELS.gpuCount]).toBe('4')
    expect(config.nodes[1]!.extraMounts).toBeUndefined()
  })

  it("gives kube-controller-manager the lab's flags through kubeadm's ClusterConfiguration", async () => {
    const config = parse(
      kindConfig('serving-lab', fleetNodes(await loadTopology('lab')), {
        image: KIND_NODE_IMAGE,
        gpuPassthrough: false,
      }),
    ) as { kubeadmConfigPatches: string[] }
    expect(config.kubeadmConfigPatches.map((patch) => parse(patch))).toEqual([
      {
        kind: 'ClusterConfiguration',
        controllerManager: { extraArgs: { 'horizontal-pod-autoscaler-sync-period': '5s' } },
      },
    ])
  })

  it('with host GPUs, mounts /dev/null where the NVIDIA runtime looks for the device list', async () => {
    const config = parse(
      kindConfig('serving-lab', fleetNodes(await loadTopology('lab')), {
        image: KIND_NODE_IMAGE,
        gpuPassthrough: true,
      }),
    ) as { nodes: KindNode[] }
    expect(config.nodes[1]!.extraMounts).toEqual([
      { hostPath: '/dev/null', containerPath: '/var/run/nvidia-container-devices/all' },
    ])
    expect(config.nodes[0]!.extraMounts).toBeUndefined()
  })

  it('refuses a fleet too large for containers on a laptop, pointing at kwok', async () => {
    const nodes = fleetNodes(await loadTopology('large'))
    expect(() => kindConfig('serving-lab', nodes, { image: KIND_NODE_IMAGE, gpuPassthrough: false })).toThrow(
      /--provider kwok/,
    )
  })
})

describe('kindConfig with GPU passthrough', () => {
  it('mounts the device list into exactly the nodes that the GPU setup and the device plugin select', async () => {
    const config = parse(
      kindConfig('serving-lab', fleetNodes(await loadTopology('lab')), {
        image: KIND_NODE_IMAGE,
        gpuPassthrough: true,
      }),
    ) as { nodes: KindNode[] }
    for (const node of config.nodes) {
      expect(node.extraMounts !== undefined).toBe(node.labels?.[LABELS.gpuCount] !== undefined)
    }
  })
})
