#!/usr/bin/env bash
# Build the local control plane from Go modules into the cache:
#   ~/.cache/workqueue-operator/<k8s version>/bin/{etcd,kube-apiserver,kube-controller-manager,
#                                                 kube-scheduler,kubectl,kwok}
# A warm cache builds nothing. A cold build takes minutes on two cores and prints progress.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${WQ_CACHE_DIR:-$HOME/.cache/workqueue-operator}/$K8S_VERSION
bin=$cache/bin
mkdir -p "$bin"

# The key covers everything that changes the binaries: versions and the wrapper module.
key=$(cat "$here/versions.env" "$here/components/go.mod" "$here/components/go.sum" \
      "$here"/components/cmd/*/main.go | sha256sum | cut -c1-16)
if [[ -f $cache/.built && $(cat "$cache/.built") == "$key" && -x $bin/helm ]]; then
  echo "control plane $K8S_VERSION: cached in $bin"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: Go is required (go >= 1.26)" >&2; exit 1; }
start=$(date +%s)
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# shellcheck source=ldflags.sh
source "$here/ldflags.sh"
ldflags=$(wq_k8s_ldflags -X "k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION")

step() { printf '[%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }
cd "$here/components"
step "downloading modules for k8s.io/kubernetes $K8S_VERSION"
go mod download
for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  step "building $c"
  go build -trimpath -ldflags "$ldflags" -o "$bin/$c.tmp" "./cmd/$c"
  mv "$bin/$c.tmp" "$bin/$c"
done
step "building kwok $KWOK_VERSION (own module)"
GOBIN=$bin go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
step "building helm $HELM_VERSION (own module; for the chart's tests)"
# As helm's Makefile does: its version, and the Kubernetes version that `helm lint` and
# `helm template` assume (here: the local control plane's, not Go's default v1.20).
helm_pkg=helm.sh/helm/v3
helm_minor=$(echo "$K8S_VERSION" | cut -d. -f2)
GOBIN=$bin go install -trimpath -ldflags "-s -w \
 -X $helm_pkg/internal/version.version=$HELM_VERSION \
 -X $helm_pkg/pkg/lint/rules.k8sVersionMajor=1 -X $helm_pkg/pkg/lint/rules.k8sVersionMinor=$helm_minor \
 -X $helm_pkg/pkg/chartutil.k8sVersionMajor=1 -X $helm_pkg/pkg/chartutil.k8sVersionMinor=$helm_minor" \
  "$helm_pkg/cmd/helm@$HELM_VERSION"
step "done: $(du -sh "$bin" | cut -f1) in $bin"
echo "$key" > "$cache/.built"
