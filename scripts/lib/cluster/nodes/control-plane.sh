#!/bin/bash
# PID 1 of the control-plane container: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler, as kubeadm configures them but as processes rather than static pods. The
# container stops when any of them stops. Each logs to /var/log/serving-lab/<name>.log.
# Set by the provider: SERVICE_CIDR, POD_CIDR; certificates under /etc/kubernetes/pki.
set -euo pipefail
bin=/opt/serving-lab/bin
pki=/etc/kubernetes/pki
# NODE_IP, start and supervise; the API server advertises NODE_IP as the `kubernetes` Service's endpoint.
source /usr/local/bin/machine.sh

# Only the API server talks to etcd, over the container's loopback.
start etcd "$bin/etcd" \
  --name=control-plane \
  --data-dir=/var/lib/etcd \
  --listen-client-urls=http://127.0.0.1:2379 \
  --advertise-client-urls=http://127.0.0.1:2379 \
  --listen-peer-urls=http://127.0.0.1:2380 \
  --listen-metrics-urls=http://127.0.0.1:2381

start kube-apiserver "$bin/kube-apiserver" \
  --advertise-address="$NODE_IP" \
  --secure-port=6443 \
  --etcd-servers=http://127.0.0.1:2379 \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --client-ca-file=$pki/ca.crt \
  --tls-cert-file=$pki/apiserver.crt \
  --tls-private-key-file=$pki/apiserver.key \
  --kubelet-client-certificate=$pki/apiserver-kubelet-client.crt \
  --kubelet-client-key=$pki/apiserver-kubelet-client.key \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file=$pki/sa.pub \
  --service-account-signing-key-file=$pki/sa.key \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true

# kubeadm's static pods restart until the API server has made its default roles; processes wait.
until $bin/kubectl --kubeconfig=/etc/kubernetes/controller-manager.kubeconfig get --raw=/readyz >/dev/null 2>&1; do
  sleep 0.5
done

start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig=/etc/kubernetes/controller-manager.kubeconfig \
  --authentication-kubeconfig=/etc/kubernetes/controller-manager.kubeconfig \
  --authorization-kubeconfig=/etc/kubernetes/controller-manager.kubeconfig \
  --bind-address=127.0.0.1 \
  --leader-elect=false \
  --use-service-account-credentials=true \
  --service-account-private-key-file=$pki/sa.key \
  --root-ca-file=$pki/ca.crt \
  --cluster-signing-cert-file=$pki/ca.crt \
  --cluster-signing-key-file=$pki/ca.key \
  --allocate-node-cidrs=true \
  --cluster-cidr="$POD_CIDR" \
  --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --enable-hostpath-provisioner=true

start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig=/etc/kubernetes/scheduler.kubeconfig \
  --authentication-kubeconfig=/etc/kubernetes/scheduler.kubeconfig \
  --authorization-kubeconfig=/etc/kubernetes/scheduler.kubeconfig \
  --bind-address=127.0.0.1 \
  --leader-elect=false

supervise "control plane"
