# Helpers shared by images/build.sh and images/base/make-base.sh (sourced, not run).
#
#   docker_cmd ...          the Docker CLI that talks to the engine (Debian's /usr/bin/docker:
#                           /usr/local/bin/docker may be a newer CLI without BuildKit's builder)
#   ensure_host_packages    apt-get install docker.io / mmdebstrap when missing (root or sudo)
#   ensure_dockerd          start dockerd in the background unless an engine answers; idempotent
#   hash_files FILE...      one sha256 over the names, modes and contents of FILEs
#   hash_text TEXT...       sha256 of the arguments, one a line
# shellcheck shell=bash

IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$IMAGES_DIR/.." && pwd)
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/workqueue-operator
DOCKER_BIN=${DOCKER_BIN:-/usr/bin/docker}
DOCKERD_BIN=${DOCKERD_BIN:-/usr/sbin/dockerd}
DOCKERD_LOG_DIR=$CACHE_DIR/docker

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

docker_cmd() { "$DOCKER_BIN" "$@"; }

as_root() {
  if [[ $(id -u) == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root (or sudo) for: $*"
  fi
}

# Install Debian packages that provide the given commands, when a command is missing.
# Arguments are COMMAND=PACKAGE pairs.
ensure_host_packages() {
  local pair cmd pkg missing=()
  for pair in "$@"; do
    cmd=${pair%%=*}
    pkg=${pair#*=}
    [[ -x $cmd ]] || command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

engine_answers() { timeout 20 "$DOCKER_BIN" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Start dockerd unless an engine already answers on the default socket. The daemon keeps
# running after this script (later builds and the tests reuse it); its log and pid file
# live in ~/.cache/workqueue-operator/docker/.
ensure_dockerd() {
  ensure_host_packages "$DOCKER_BIN=docker.io" "$DOCKERD_BIN=docker.io"
  if engine_answers; then
    return 0
  fi
  if [[ -n ${DOCKER_HOST:-} ]]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to let this script start dockerd"
  fi
  mkdir -p "$DOCKERD_LOG_DIR"
  local pidfile=$DOCKERD_LOG_DIR/dockerd.pid logfile=$DOCKERD_LOG_DIR/dockerd.log
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "dockerd (pid $(cat "$pidfile")) is starting; waiting"
  else
    log "starting dockerd (log: $logfile)"
    # setsid: the daemon outlives this script and is not killed with its process group. Neither
    # it nor the subshell that waits for it keeps a descriptor above 2: a caller's lock
    # (e2e/node/up.sh holds one while it builds images) would otherwise stay held for as long
    # as dockerd runs.
    (
      for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then { eval "exec $fd>&-"; } 2>/dev/null; fi
      done
      as_root setsid "$DOCKERD_BIN" --pidfile "$pidfile"
    ) >>"$logfile" 2>&1 </dev/null &
    disown || true
  fi
  local i
  for ((i = 0; i < 60; i++)); do
    engine_answers && return 0
    sleep 1
  done
  tail -n 20 "$logfile" >&2 || true
  die "dockerd did not answer within 60 s (see $logfile)"
}

hash_text() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

hash_files() {
  local f
  for f in "$@"; do
    printf '%s %s ' "${f#"$REPO_DIR"/}" "$(stat -c %a "$f")"
    sha256sum <"$f" | cut -d' ' -f1
  done | sha256sum | cut -c1-16
}

# The Debian mirrors this machine's apt uses (deb822 .sources or one-line sources.list),
# printed as "URI SUITE" pairs for the debian and debian-security archives.
host_debian_mirrors() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    if [[ $f == *.sources ]]; then
      awk '
        /^[[:space:]]*$/ { if (uris != "") print uris "|" suites; uris = ""; suites = ""; next }
        /^URIs:/   { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
        /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
        END { if (uris != "") print uris "|" suites }
      ' "$f" | while IFS='|' read -r uris suites; do
        local u s
        for u in $uris; do for s in $suites; do echo "$u $s"; done; done
      done
    else
      awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i+1) }' "$f"
    fi
  done | awk '$1 ~ /\/debian(-security)?\/?$/' | sort -u
}
