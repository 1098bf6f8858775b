#!/usr/bin/env bash
# Stops the local control plane started by up.sh: SIGTERM, then SIGKILL after a grace period
# (WQ_STOP_GRACE seconds, default 15). Keeps binaries, certificates and etcd data, so the next
# up.sh is warm. `down.sh --purge` also deletes the state dir (certificates, etcd data, logs).
# Idempotent: nothing running is not an error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

purge=false
for arg in "$@"; do
  case $arg in
    --purge) purge=true ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) wq_die "unknown argument '$arg' (usage: down.sh [--purge])" ;;
  esac
done
grace=${WQ_STOP_GRACE:-15}
[[ $grace =~ ^[0-9]+$ ]] || wq_die "WQ_STOP_GRACE must be a number of seconds, not '$grace'"

if [[ ! -d $wq_state ]]; then
  echo "nothing to stop: $wq_state does not exist"
  exit 0
fi
# Refuse anything that does not look like a state dir made by up.sh (it is deleted by --purge).
if [[ ! -d $wq_state/pids && ! -d $wq_state/pki && ! -f $wq_state/cluster.env ]]; then
  wq_die "$wq_state does not look like a cluster state dir of up.sh: leaving it alone"
fi
wq_lock

t0=$(wq_now_ms)
stopped=0
# Reverse start order: node simulation and controllers first, etcd last.
for (( i = ${#wq_components[@]} - 1; i >= 0; i-- )); do
  c=${wq_components[i]}
  if ! pid=$(wq_pid "$c"); then
    rm -f "$wq_pids/$c.pid"
    continue
  fi
  t1=$(wq_now_ms)
  wq_terminate "$c" "$pid" "$grace" "$wq_logs/$c.log"
  rm -f "$wq_pids/$c.pid"
  echo "stopped $c (pid $pid) in $(wq_since "$t1")s"
  stopped=$((stopped + 1))
done
if (( stopped == 0 )); then
  echo "nothing was running (state in $wq_state)"
else
  echo "stopped $stopped component(s) in $(wq_since "$t0")s"
fi

if $purge; then
  case $wq_state in
    /|"$HOME"|"$HOME/"|"$wq_cache_root"|"$wq_cache_root/") wq_die "refusing to purge $wq_state" ;;
  esac
  rm -rf "$wq_state"
  echo "purged $wq_state (binaries kept in $wq_bin)"
fi
