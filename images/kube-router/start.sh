#!/bin/sh
# Starts kube-router on a node: iptables on the node's backend, then the API server reached
# directly. kind adds CONTROL_PLANE_ENDPOINT (host:port on the node network) to this container:
# the in-cluster address, the kubernetes Service, works only once kube-proxy has written its
# rules, and kube-router is what makes the nodes Ready, so it should not wait for them. The
# ServiceAccount's token and CA are still used (client-go keeps them when only --master is set).
set -eu
echo "iptables backend: $(iptables-backend)"
if [ -n "${CONTROL_PLANE_ENDPOINT:-}" ]; then
  set -- "--master=https://${CONTROL_PLANE_ENDPOINT}" "$@"
fi
exec kube-router "$@"
