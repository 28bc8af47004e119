#!/bin/bash
# Runs before kind's entrypoint. A container started without --privileged on a cgroup v1 host
# gets its own cgroup hierarchies mounted read-only, and systemd and the kubelet must write to
# them. Remounting the bind mount read-write changes only this mount's flag, not the host's
# hierarchy. With --privileged (an ordinary laptop) nothing is read-only and this does nothing.
set -euo pipefail
if [[ ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
  for mountpoint in /sys/fs/cgroup $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
    if findmnt -rn -o OPTIONS "$mountpoint" | tr , '\n' | grep -qx ro; then
      echo "INFO: making $mountpoint writable (the node runs without --privileged)" >&2
      mount -o remount,bind,rw "$mountpoint"
    fi
  done
fi
exec /usr/local/bin/entrypoint.kind "$@"
