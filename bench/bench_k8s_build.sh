#!/usr/bin/env bash
# Issue 16: does one multi-call Kubernetes binary (e2e/multicall, cmd/kube) build faster and take
# less disk than the seven separately linked binaries that e2e/cluster/build.sh and
# e2e/node/build.sh build today (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl; kubelet, kube-proxy)? Same packages, same versions, same ldflags; one link instead of seven.
#
#   bench/bench_k8s_build.sh [separate|multicall]...    (default: both, separate first)
#
# For each variant, with an EMPTY Go build cache of its own ($BENCH_DIR/gocache-<variant>) and the
# modules already downloaded (GOPROXY=off: a missing module fails instead of being fetched):
#   cold    every package compiled and every binary linked
#   relink  built again on the now warm cache with one more -X (a dummy main.benchRelink): the
#           link alone, plus the go command hashing the sources. (Touching main.go would not do:
#           Go's cache keys on file contents, not times; a new -X changes only the link's key.)
# and prints wall seconds, CPU seconds (user + sys of the go command and all it ran), the load
# average before and after, the binaries' bytes on disk, and the cache's size. Every go command
# runs under `nice -n 19`: on a shared machine the CPU seconds are the robust figure.
# Env: BENCH_DIR (default /tmp/k8s-build-bench; binaries stay there), KEEP_CACHE=1 keeps the caches.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../e2e/cluster/versions.env
source "$root/e2e/cluster/versions.env"
out=${BENCH_DIR:-/tmp/k8s-build-bench}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOPROXY=off
# build.sh's ldflags (e2e/node/build.sh's lack only the client-go one, which kubectl needs).
# shellcheck source=../e2e/cluster/ldflags.sh
source "$root/e2e/cluster/ldflags.sh"
node_ldflags=$(wq_k8s_ldflags ${BENCH_RELINK:+-X "main.benchRelink=$BENCH_RELINK"})
cluster_ldflags="$node_ldflags -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
go_build() { nice -n 19 go build -trimpath "$@"; }

# Internal: the builds themselves, run by /usr/bin/time below.
if [[ ${1:-} == --build ]]; then
  variant=$2 bin=$3
  case $variant in
    separate)
      cd "$root/e2e/cluster/components"
      for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
        go_build -ldflags "$cluster_ldflags" -o "$bin/$c" "./cmd/$c"
      done
      cd "$root/e2e/node/components"
      for c in kubelet kube-proxy; do
        go_build -ldflags "$node_ldflags" -o "$bin/$c" "./cmd/$c"
      done ;;
    multicall)
      cd "$root/e2e/multicall"
      go_build -ldflags "$cluster_ldflags" -o "$bin/kube" ./cmd/kube
      for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
        ln -sfn kube "$bin/$c"
      done ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
  esac
  exit 0
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
# measure VARIANT PHASE: one timed build into $out/bin-VARIANT.
measure() {
  local variant=$1 phase=$2 tf wall user sys before
  tf=$(mktemp)
  before=$(load)
  /usr/bin/time -f '%e %U %S' -o "$tf" "$0" --build "$variant" "$out/bin-$variant"
  read -r wall user sys < "$tf"
  rm -f "$tf"
  printf '%-9s %-6s wall %7.1f s  cpu %7.1f s (user %.1f + sys %.1f)  load %s -> %s\n' \
    "$variant" "$phase" "$wall" "$(echo "$user + $sys" | bc)" "$user" "$sys" "$before" "$(load)"
}

variants=("$@")
(( ${#variants[@]} )) || variants=(separate multicall)
mkdir -p "$out"
echo "$(date -u +%FT%TZ) $(go version | cut -d' ' -f3-) nproc $(nproc); k8s $K8S_VERSION;" \
  "modules from $(go env GOMODCACHE) (already downloaded, GOPROXY=off); go commands at nice 19"
for v in "${variants[@]}"; do
  export GOCACHE=$out/gocache-$v
  rm -rf "$GOCACHE" "$out/bin-$v"
  mkdir -p "$GOCACHE" "$out/bin-$v"
  measure "$v" cold
  sizes=$(find "$out/bin-$v" -type f -printf '%f %s\n' | sort)
  total=$(awk '{s += $2} END {printf "%.1f", s / 1e6}' <<< "$sizes")
  echo "$v binaries: $total MB on disk ($(awk '{printf "%s%s %.1f", sep, $1, $2 / 1e6; sep = ", "}' <<< "$sizes") MB);" \
    "Go build cache $(du -sh "$GOCACHE" | cut -f1)"
  BENCH_RELINK=$(date +%s) measure "$v" relink
  [[ ${KEEP_CACHE:-} == 1 ]] || rm -rf "$GOCACHE"
done
