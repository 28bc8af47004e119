#!/bin/sh
# Points iptables, ip6tables and their -save/-restore at the backend the node uses, so that
# kube-router's rules sit beside kubelet's and kube-proxy's instead of in an invisible twin.
# Prints the backend chosen.
#
# kubelet's KUBE-IPTABLES-HINT chain (mangle table) marks the backend it writes to; when neither
# backend has it, the one holding more rules wins, ties going to legacy, which is how kind's
# entrypoint chose the node's own backend.
set -eu
has_hint() { "$1" -t mangle -S KUBE-IPTABLES-HINT >/dev/null 2>&1; }
rules() { { "iptables-$1-save"; "ip6tables-$1-save"; } 2>/dev/null | grep -c '^-' || true; }

if has_hint iptables-legacy; then
  backend=legacy
elif has_hint iptables-nft; then
  backend=nft
elif [ "$(rules legacy)" -ge "$(rules nft)" ]; then
  backend=legacy
else
  backend=nft
fi
update-alternatives --set iptables "/usr/sbin/iptables-$backend" >/dev/null
update-alternatives --set ip6tables "/usr/sbin/ip6tables-$backend" >/dev/null
echo "$backend"
