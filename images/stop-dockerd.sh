#!/usr/bin/env bash
# Stop the dockerd that the image builds started (images/base/common.sh: ensure_dockerd, pid file
# under ~/.cache/workqueue-operator/docker/). An engine this project did not start is left
# alone. The next `make images` (or `make test`, `make demo`) starts it again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/base/common.sh"

pidfile=$DOCKERD_LOG_DIR/dockerd.pid
pid=$(cat "$pidfile" 2>/dev/null || true)
if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
  echo "dockerd: none started by this project is running"
  exit 0
fi
if [[ $(cat "/proc/$pid/comm" 2>/dev/null) != dockerd ]]; then
  echo "dockerd: pid $pid (from $pidfile) is not dockerd; left alone"
  exit 0
fi
kill -TERM "$pid"
for _ in $(seq 1 30); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "stopped dockerd (pid $pid)"
    exit 0
  fi
  sleep 1
done
echo "dockerd (pid $pid) did not stop within 30 s; see $DOCKERD_LOG_DIR/dockerd.log" >&2
exit 1
