#!/usr/bin/env bash
# The quick start's demo: control plane up, CRDs installed, operator running in the background,
# examples/demo.yaml applied, and what kubectl shows of it. `scripts/demo.sh --down` stops it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
run_dir=$repo/.run
pid_file=$run_dir/operator.pid
namespace=${DEMO_NAMESPACE:-wq-demo}
log() { printf '==> %s\n' "$*"; }

stop_operator() {
  if [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    log "stopping the operator (pid $(cat "$pid_file"))"
    kill "$(cat "$pid_file")"
  fi
  rm -f "$pid_file"
}

if [[ ${1:-} == --down ]]; then
  stop_operator
  bash e2e/cluster/down.sh
  exit 0
fi

bash e2e/cluster/up.sh
# shellcheck source=../e2e/cluster/env.sh
source e2e/cluster/env.sh

log "installing the CRDs from crds/"
kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null

mkdir -p "$run_dir"
stop_operator
log "starting the operator (logs: $run_dir/operator.log)"
nohup .venv/bin/workqueue-operator run --all-namespaces --log-format=json \
  --liveness=http://127.0.0.1:8089/healthz >"$run_dir/operator.log" 2>&1 &
echo $! >"$pid_file"
for _ in $(seq 60); do
  curl -fsS http://127.0.0.1:8089/healthz >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS http://127.0.0.1:8089/healthz >/dev/null || {
  echo "the operator did not become healthy; last log lines:" >&2
  tail -20 "$run_dir/operator.log" >&2
  exit 1
}

log "applying examples/demo.yaml in namespace $namespace"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n "$namespace" -f examples/demo.yaml
kubectl wait -n "$namespace" --for=condition=Accepted --timeout=60s \
  wqm/parsl-login wqpool/parsl-workers penv/analysis-env >/dev/null

log "kubectl get wqm,wqpool,penv -n $namespace"
kubectl get wqm,wqpool,penv -n "$namespace"
echo
echo "The operator keeps running. Try: source e2e/cluster/env.sh; kubectl describe wqpool -n $namespace"
echo "Stop everything with: make demo-down"
