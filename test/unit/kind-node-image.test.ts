import { describe, expect, it } from 'vitest'
import { nodeImageNames } from '../../scripts/lib/build/kind-node-image.ts'

const kubeadm = [
  'registry.k8s.io/kube-apiserver:v1.34.12',
  'registry.k8s.io/kube-controller-manager:v1.34.12',
  'registry.k8s.io/kube-scheduler:v1.34.12',
  'registry.k8s.io/kube-proxy:v1.34.12',
  'registry.k8s.io/coredns/coredns:v1.12.1',
  'registry.k8s.io/pause:3.10.1',
  'registry.k8s.io/etcd:3.6.5-0',
]
const local = {
  components: 'serving-lab.local/kube-components:a',
  coredns: 'serving-lab.local/kind-coredns:b',
  pause: 'serving-lab.local/pause:3.10',
}
const kind = {
  sandbox: 'registry.k8s.io/pause:3.10',
  provisioner: 'docker.io/kindest/local-path-provisioner:v1',
  helper: 'docker.io/kindest/local-path-helper:v2',
}

describe('nodeImageNames', () => {
  it('serves every image kubeadm and kind expect from one of the local images', () => {
    const names = nodeImageNames({ kubeadm, ...kind }, local)
    expect(Object.keys(names).sort()).toEqual([...kubeadm, kind.sandbox, kind.provisioner, kind.helper].sort())
    expect(names['registry.k8s.io/etcd:3.6.5-0']).toBe(local.components)
    expect(names['registry.k8s.io/coredns/coredns:v1.12.1']).toBe(local.coredns)
    expect(names['registry.k8s.io/pause:3.10.1']).toBe(local.pause)
    expect(names[kind.sandbox]).toBe(local.pause)
    expect(names[kind.helper]).toBe(local.components)
  })

  it('refuses an image kubeadm expects that the lab does not build', () => {
    expect(() => nodeImageNames({ kubeadm: [...kubeadm, 'registry.k8s.io/kube-webhook:v1'], ...kind }, local)).toThrow(
      /does not build: registry.k8s.io\/kube-webhook:v1/,
    )
  })
})
