#!/bin/bash
# PID 1 of a worker node container: containerd, then kubelet and kube-proxy. The container
# stops when any of them stops. Each one logs to /var/log/serving-lab/<name>.log.
# Set by the provider: NODE_NAME, NODE_LABELS, CGROUP_ROOT; configuration under /etc/kubernetes.
set -euo pipefail
bin=/opt/serving-lab/bin
source /usr/local/bin/machine.sh

# kubelet mounts pod volumes below /var/lib/kubelet; containers must see those mounts.
mount --make-rshared /

# Docker's /etc/machine-id is empty; kubelet and cadvisor expect one per node.
[ -s /etc/machine-id ] || tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id

# Nodes share the host's cgroup v1 hierarchies: each gets its own root, which kubelet requires
# to exist. cpuset cgroups start empty and must inherit their parent's CPUs and memory nodes.
for hierarchy in /sys/fs/cgroup/*/; do
  [ -e "${hierarchy}cgroup.procs" ] || continue
  path=$hierarchy
  for part in ${CGROUP_ROOT//\// }; do
    parent=$path
    path="$path$part/"
    mkdir -p "$path"
    if [ -e "${path}cpuset.cpus" ]; then
      [ -n "$(cat "${path}cpuset.cpus")" ] || cat "${parent}cpuset.cpus" > "${path}cpuset.cpus"
      [ -n "$(cat "${path}cpuset.mems")" ] || cat "${parent}cpuset.mems" > "${path}cpuset.mems"
    fi
  done
done

start containerd containerd
for _ in $(seq 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done

start kubelet "$bin/kubelet" \
  --config=/etc/kubernetes/kubelet.yaml \
  --kubeconfig=/etc/kubernetes/kubelet.kubeconfig \
  --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" \
  --node-labels="$NODE_LABELS"
start kube-proxy "$bin/kube-proxy" --config=/etc/kubernetes/kube-proxy.yaml

supervise node
