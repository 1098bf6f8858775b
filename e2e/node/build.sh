#!/usr/bin/env bash
# Build the real node's binaries from the same k8s.io/kubernetes release as the control plane
# (e2e/cluster/versions.env) into the cache:
#   ~/.cache/workqueue-operator/<k8s version>/node-bin/{kubelet,kube-proxy}
# and CoreDNS (e2e/node/coredns/build.sh). A warm cache builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../cluster/versions.env
source "$here/../cluster/versions.env"
cache=${WQ_CACHE_DIR:-$HOME/.cache/workqueue-operator}/$K8S_VERSION
bin=$cache/node-bin
mkdir -p "$bin"

key=$(cat "$here/../cluster/versions.env" "$here/components/go.mod" "$here/components/go.sum" \
      "$here"/components/cmd/*/main.go | sha256sum | cut -c1-16)
if [[ -f $bin/.built && $(cat "$bin/.built") == "$key" && -x $bin/kubelet && -x $bin/kube-proxy ]]; then
  echo "node binaries $K8S_VERSION: cached in $bin"
else
  command -v go >/dev/null || { echo "build.sh: Go is required (go >= 1.26)" >&2; exit 1; }
  start=$(date +%s)
  export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  # shellcheck source=../cluster/ldflags.sh
  source "$here/../cluster/ldflags.sh"
  # shellcheck disable=SC2119 # the node binaries take no extra flags
  ldflags=$(wq_k8s_ldflags)
  step() { printf '[%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }
  cd "$here/components"
  step "downloading modules for k8s.io/kubernetes $K8S_VERSION"
  go mod download
  for c in kubelet kube-proxy; do
    step "building $c"
    go build -trimpath -ldflags "$ldflags" -o "$bin/$c.tmp" "./cmd/$c"
    mv "$bin/$c.tmp" "$bin/$c"
  done
  step "done: $(du -sh "$bin" | cut -f1) in $bin"
  echo "$key" > "$bin/.built"
fi
if [[ -x $here/coredns/build.sh ]]; then
  "$here/coredns/build.sh"
fi
