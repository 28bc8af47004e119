#!/bin/sh
# The first time any iptables command runs, pick the backend the node itself uses (legacy or
# nf_tables: whichever already holds more rules, as kind's entrypoint decides for the node),
# point every iptables name at it, and run the command. Rules written through the other backend
# would be invisible to the node and to kube-proxy's peers.
legacy=$( (iptables-legacy-save; ip6tables-legacy-save) 2>/dev/null | grep -c '^-')
nft=$( (timeout 5 sh -c 'iptables-nft-save; ip6tables-nft-save') 2>/dev/null | grep -c '^-')
if [ "${legacy:-0}" -ge "${nft:-0}" ]; then backend=legacy; else backend=nft; fi
for name in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf "xtables-$backend-multi" "/usr/sbin/$name"
done
exec "$0" "$@"
