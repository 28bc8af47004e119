# The node image of the `nodes` provider: what kind's node image holds, from Debian's packages.
# Kubernetes' binaries are not in it: they are mounted read-only from the lab's cache, so a
# rebuilt binary needs no new image. Built by scripts/lib/cluster/node-images.ts.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      containerd runc containernetworking-plugins iptables iproute2 procps ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man
COPY containerd.toml /etc/containerd/config.toml
COPY machine.sh control-plane.sh node.sh /usr/local/bin/
