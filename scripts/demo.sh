#!/usr/bin/env bash
# The quick start's demo: control plane up, CRDs installed, the operator running in the
# background, a real Work Queue manager (makeflow with 40 short tasks) on 127.0.0.1:9123,
# examples/demo.yaml applied, and what kubectl shows while the pool scales out and back.
# KWOK nodes run no containers: the test harness's host runner runs the worker pods as local
# work_queue_worker processes. `scripts/demo.sh --down` stops it all.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
run_dir=$repo/.run
namespace=${DEMO_NAMESPACE:-wq-demo}
port=9123
log() { printf '==> %s\n' "$*"; }

stop() {  # stop NAME: the background process recorded in .run/NAME.pid
  local pid_file=$run_dir/$1.pid
  if [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    log "stopping the $1 (pid $(cat "$pid_file"))"
    kill "$(cat "$pid_file")"
    sleep 1
  fi
  rm -f "$pid_file"
}

start() {  # start NAME COMMAND...: in the background, logging to .run/NAME.log
  local name=$1
  shift
  nohup "$@" >"$run_dir/$name.log" 2>&1 &
  echo $! >"$run_dir/$name.pid"
}

if [[ ${1:-} == --down ]]; then
  stop makeflow
  stop host-runner
  stop operator
  # The real node (make node-up, make test) first: its kubelet needs the control plane.
  bash e2e/node/down.sh
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
stop makeflow
stop host-runner
stop operator
log "starting the operator (logs: $run_dir/operator.log)"
WORKQUEUE_OPERATOR_METRICS_PORT=8090 start operator .venv/bin/workqueue-operator run \
  --all-namespaces --log-format=json --liveness=http://127.0.0.1:8089/healthz
for _ in $(seq 60); do
  curl -fsS http://127.0.0.1:8089/healthz >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS http://127.0.0.1:8089/healthz >/dev/null || {
  echo "the operator did not become healthy; last log lines:" >&2
  tail -20 "$run_dir/operator.log" >&2
  exit 1
}

log "starting a real manager: makeflow -T wq -p $port with 41 tasks (logs: $run_dir/makeflow.log)"
flow=$run_dir/makeflow
rm -rf "$flow" && mkdir -p "$flow"
{
  # 40 short tasks, then one long one that needs them all: the pool scales out to 8 workers,
  # then back to the one worker the last task needs.
  printf 'summary: %s\n\tsleep 40; cat out.* > summary\n\n' "$(printf 'out.%d ' $(seq 40))"
  for i in $(seq 40); do
    printf 'out.%d:\n\tsleep 4; echo %d > out.%d\n\n' "$i" "$i" "$i"
  done
} >"$flow/Makeflow"
(cd "$flow" && start makeflow makeflow -T wq -p "$port" Makeflow)

log "starting the host runner for namespace $namespace (logs: $run_dir/host-runner.log)"
if kubectl get namespace "$namespace" >/dev/null 2>&1; then
  # A fresh start: the demo's objects of an earlier run go first (the operator is running, so
  # their finalizers are released), then the namespace.
  kubectl delete -n "$namespace" wqpool,wqm,penv --all --timeout=60s >/dev/null
  kubectl delete namespace "$namespace" --timeout=120s >/dev/null
fi
kubectl create namespace "$namespace" >/dev/null
start host-runner .venv/bin/python -m e2e.hostrunner --kubeconfig "$KUBECONFIG" \
  --namespace "$namespace"

log "applying examples/demo.yaml in namespace $namespace"
kubectl apply -n "$namespace" -f examples/demo.yaml
kubectl wait -n "$namespace" --for=condition=Accepted --timeout=60s \
  wqm/makeflow wqpool/workers penv/analysis-env >/dev/null

for round in 1 2 3 4 5 6; do
  sleep 10
  log "after $((round * 10)) s: kubectl get wqm,wqpool,penv,pods -n $namespace"
  kubectl get wqm,wqpool,penv -n "$namespace"
  kubectl get pods -n "$namespace" --no-headers 2>/dev/null | awk '{print $3}' | sort | uniq -c
done
echo
echo "The operator, makeflow and the host runner keep running (the pool holds its size once"
echo "makeflow exits: an unreachable manager never loses workers). Watch it with:"
echo "  source e2e/cluster/env.sh; kubectl get wqm,wqpool -n $namespace -w"
echo "Stop everything with: make demo-down"
