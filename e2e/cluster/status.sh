#!/usr/bin/env bash
# Shows the local control plane: each component's pid, port and health, then the nodes.
# Exit status 0 when every component runs and is healthy, 1 otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

if [[ ! -d $wq_state ]]; then
  echo "no cluster: $wq_state does not exist (run $here/up.sh)"
  exit 1
fi
wq_load_settings 2>/dev/null

echo "state dir: $wq_state   (Kubernetes $K8S_VERSION, kwok $KWOK_VERSION)"
printf '%-24s %-8s %-6s %-10s %s\n' COMPONENT PID PORT HEALTH LOG
ok=true
for c in "${wq_components[@]}"; do
  if pid=$(wq_pid "$c"); then
    if wq_healthy "$c"; then health=healthy; else health=UNHEALTHY; ok=false; fi
  else
    pid=-
    health=stopped
    ok=false
    [[ -f $wq_pids/$c.pid ]] && health=stale-pid
  fi
  printf '%-24s %-8s %-6s %-10s %s\n' "$c" "$pid" "$(wq_port "$c")" "$health" "$wq_logs/$c.log"
done

echo
if [[ ! -x $wq_bin/kubectl ]]; then
  echo "no kubectl in $wq_bin: run $here/build.sh"
elif wq_healthy kube-apiserver; then
  wq_kubectl get nodes -o wide || ok=false
else
  echo "API server not answering: no node list"
fi
echo
echo "export KUBECONFIG=$wq_kubeconfig"
$ok
