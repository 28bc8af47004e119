# Sourced by control-plane.sh and node.sh: what every machine of the cluster does the same way.
# Components run in the background, each logging to /var/log/serving-lab/<name>.log; when any
# of them stops, the container stops with it.
logs=/var/log/serving-lab
mkdir -p "$logs"

# The machine's address on the Docker network: what the other machines dial.
NODE_IP=$(ip -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1]; exit }')

start() {
  local name=$1
  shift
  "$@" >> "$logs/$name.log" 2>&1 &
  echo "started $name (pid $!)"
}

trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' TERM INT

# Returns only when the first component stops, and then stops the container.
supervise() {
  wait -n
  echo "a component stopped; stopping the $1" >&2
  exit 1
}
