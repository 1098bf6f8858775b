#!/usr/bin/env bash
# One line per component of the real node (pid, health, log), then the Node object.
# Exit 0 when every component is healthy and the node is Ready.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
ok=0
for c in "${wq_node_components[@]}"; do
  if pid=$(wq_node_pid "$c"); then
    if wq_node_healthy "$c"; then h=healthy; else h=UNHEALTHY; ok=1; fi
    printf '%-11s pid %-7s %-9s %s\n' "$c" "$pid" "$h" "$wq_node_logs/$c.log"
  else
    printf '%-11s %-11s %-9s %s\n' "$c" "-" "STOPPED" "$wq_node_logs/$c.log"
    ok=1
  fi
done
if wq_node_ready; then
  wq_kubectl get node "$wq_node_name" -o wide
else
  echo "node $wq_node_name: not Ready (or absent)"
  ok=1
fi
exit $ok
