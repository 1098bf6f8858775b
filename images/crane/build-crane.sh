#!/usr/bin/env bash
# Builds crane (github.com/google/go-containerregistry/cmd/crane) with this machine's Go from
# the Go module proxy (checked against sum.golang.org by `go install`), static (CGO off),
# -trimpath, into ~/.cache/workqueue-operator/crane/VERSION/crane; prints that directory.
# Cached: nothing runs when the binary is there and answers `crane version` with VERSION.
#
#   images/crane/build-crane.sh            CRANE_VERSION=v0.22.1 (go.mod of the module: go 1.25)
set -euo pipefail
# shellcheck source=../base/common.sh
source "$(dirname "$0")/../base/common.sh"
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
dir=$CACHE_DIR/crane/$CRANE_VERSION
if [[ -x $dir/crane && $("$dir/crane" version 2>/dev/null) == "$CRANE_VERSION" ]]; then
  echo "$dir"
  exit 0
fi
[[ -x $GO ]] || die "crane $CRANE_VERSION needs a Go toolchain (>= 1.25) to build: none at '$GO'"
mkdir -p "$dir"
log "building crane $CRANE_VERSION with $("$GO" version | cut -d' ' -f3) into $dir"
CGO_ENABLED=0 GOBIN=$dir GOFLAGS="-trimpath -buildvcs=false" \
  "$GO" install -ldflags="-s -w" \
  "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION" >&2
[[ $("$dir/crane" version) == "$CRANE_VERSION" ]] || die "$dir/crane is not $CRANE_VERSION"
echo "$dir"
