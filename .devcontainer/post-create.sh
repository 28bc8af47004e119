#!/usr/bin/env bash
# Runs once when the devcontainer is created: the dependencies, kind at the version the lab pins,
# and the lab's kind cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci

# The same version as scripts/lib/cluster/kind/config.ts (KIND_VERSION); a test keeps them equal.
KIND_VERSION=v0.33.0
go install "sigs.k8s.io/kind@${KIND_VERSION}"
sudo ln -sf "$(go env GOPATH)/bin/kind" /usr/local/bin/kind
kind version

# The Docker-in-Docker feature starts its engine with the container; wait until it answers.
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
npm run cluster:up

cat <<'NEXT'

The lab is ready (kind cluster 'serving-lab', kube context kind-serving-lab). Next:
  npm run step 01      apply and verify the first step
  npm run docs         the lessons, at http://localhost:5173
  npm test             the test suite
  npm run cluster:down remove the cluster
NEXT
