#!/bin/bash
# `docker` as kind sees it on a host that refuses `--privileged` (Docker asks for every
# capability, and this host's bounding set lacks CAP_SYS_RESOURCE). kind finds `docker` on PATH;
# the lab puts this script first there only when its probe saw `--privileged` fail.
#   docker run --privileged ...   -> what --privileged grants, less CAP_SYS_RESOURCE: the other
#                                    capabilities, every device, /dev/kmsg, unmasked /proc and /sys
#   docker exec --privileged ...  -> a plain exec, which runs with the node container's capabilities
# Every other call reaches the real docker unchanged.
set -euo pipefail
docker=${SERVING_LAB_REAL_DOCKER:?the real docker binary}
if [[ "${1:-}" == run ]]; then
  args=()
  for arg in "$@"; do
    if [[ "$arg" == --privileged ]]; then
      args+=(--cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt systempaths=unconfined
             --device-cgroup-rule='a *:* rwm' --device /dev/kmsg)
    else
      args+=("$arg")
    fi
  done
  exec "$docker" "${args[@]}"
fi
if [[ "${1:-}" == exec && "${2:-}" == --privileged ]]; then
  exec "$docker" exec "${@:3}"
fi
exec "$docker" "$@"
