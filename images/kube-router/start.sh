#!/bin/sh
# Starts kube-router on a node: iptables on the node's backend, then the API server reached
# directly. kind adds CONTROL_PLANE_ENDPOINT (host:port on the node network) to this container;
# kube-router should not depend on the kubernetes Service, which works only through kube-proxy's
# rules. The endpoint replaces the Service's address in the variables client-go's in-cluster
# configuration reads, so the ServiceAccount's token and CA are still used (with --master,
# client-go would drop both).
set -eu
echo "iptables backend: $(iptables-backend)"
if [ -n "${CONTROL_PLANE_ENDPOINT:-}" ]; then
  export KUBERNETES_SERVICE_HOST="${CONTROL_PLANE_ENDPOINT%:*}" KUBERNETES_SERVICE_PORT="${CONTROL_PLANE_ENDPOINT##*:}"
  echo "API server: $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
fi
exec kube-router "$@"
