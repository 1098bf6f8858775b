#!/usr/bin/env bash
# Builds CoreDNS (cluster DNS for the real node) from the Go module proxy into the cache:
#   ${WQ_CACHE_DIR:-~/.cache/workqueue-operator}/coredns-<version>/bin/coredns
# The release's go.mod has no replace directives, so `go install module@version` builds it as
# released (its go.sum pins every dependency); no wrapper module is needed. A present binary is
# kept: nothing is built then. WQ_COREDNS_VERSION picks another release (go.mod must allow Go 1.26).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

version=$wq_coredns_version
bin_dir=$(dirname "$wq_coredns_bin")
if [[ -x $wq_coredns_bin ]]; then
  echo "coredns $version: cached, nothing to build ($wq_coredns_bin)"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: Go is required (go >= 1.26)" >&2; exit 1; }
mkdir -p "$bin_dir"
start=$(date +%s)
echo "coredns $version: building github.com/coredns/coredns@$version ($(go env GOVERSION), CGO_ENABLED=0)"
# Into a temporary GOBIN, moved into place only when complete: an interrupted build leaves no
# binary that the cache check above would take as good.
tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# nice: another build may share the two cores.
CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=$tmp nice -n 10 go install -trimpath \
  -ldflags "-s -w" \
  "github.com/coredns/coredns@$version"
mv "$tmp/coredns" "$wq_coredns_bin"
secs=$(( $(date +%s) - start ))
echo "coredns $version: built in ${secs}s, $(du -h "$wq_coredns_bin" | cut -f1) ($wq_coredns_bin)"
"$wq_coredns_bin" -version
