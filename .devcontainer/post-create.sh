#!/usr/bin/env bash
# Runs once when the devcontainer is created: dependencies, kind, and the lab's cluster.
set -euo pipefail
npm ci
go install sigs.k8s.io/kind@v0.33.0
sudo ln -sf "$(go env GOPATH)/bin/kind" /usr/local/bin/kind
npm run cluster:up
echo "Ready: npm run step 01"
