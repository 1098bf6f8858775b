#!/usr/bin/env bash
# Checks that the local cluster of up.sh really works: fake nodes Ready, a pod scheduled onto a
# KWOK node and Running, a Deployment makes its pods, a Job completes, a namespace finishes
# terminating. Uses its own namespace and removes it. Exit status 0 when every check passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

ns=wq-smoke-$$
wait_s=${WQ_SMOKE_TIMEOUT:-60}
passed=0
failed=0
k() { wq_kubectl "$@"; }
check() {
  local what=$1 t
  shift
  t=$(wq_now_ms)
  if "$@"; then
    passed=$((passed + 1))
    printf 'ok    %-58s %ss\n' "$what" "$(wq_since "$t")"
  else
    failed=$((failed + 1))
    printf 'FAIL  %-58s %ss\n' "$what" "$(wq_since "$t")"
  fi
}

[[ -f $wq_kubeconfig ]] || wq_die "no cluster: $wq_kubeconfig missing (run $here/up.sh)"

nodes_ready() {
  k wait --for=condition=Ready nodes -l type=kwok --timeout="${wait_s}s" >/dev/null &&
    [[ -n $(k get nodes -l type=kwok -o name) ]]
}
# (set -e does not apply inside a function run as a condition: each step is chained with &&.)
pod_running() {
  local node
  k create namespace "$ns" >/dev/null &&
    k -n "$ns" run p --image=busybox --restart=Never >/dev/null &&
    k -n "$ns" wait --for=jsonpath='{.status.phase}'=Running pod/p --timeout="${wait_s}s" >/dev/null &&
    node=$(k -n "$ns" get pod p -o jsonpath='{.spec.nodeName}') && [[ -n $node ]] &&
    [[ $(k get node "$node" -o jsonpath='{.metadata.labels.type}') == kwok ]]
}
deployment_pods() {
  k -n "$ns" create deployment web --image=nginx --replicas=3 >/dev/null &&
    k -n "$ns" rollout status deployment/web --timeout="${wait_s}s" >/dev/null &&
    [[ $(k -n "$ns" get pods -l app=web --field-selector=status.phase=Running -o name | wc -l) -eq 3 ]]
}
job_completes() {
  k -n "$ns" create job j --image=busybox -- true >/dev/null &&
    k -n "$ns" wait --for=condition=Complete job/j --timeout="${wait_s}s" >/dev/null
}
# The namespace controller waits 5 s before it starts, so this takes 5-15 s.
namespace_deleted() {
  k delete namespace "$ns" --wait=true --timeout="${wait_s}s" >/dev/null &&
    ! k get namespace "$ns" >/dev/null 2>&1
}
default_sa() { k -n default get serviceaccount default >/dev/null; }

trap 'k delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT
check "fake nodes Ready" nodes_ready
check "ServiceAccount default/default exists" default_sa
check "pod scheduled onto a KWOK node and Running" pod_running
check "Deployment of 3 makes 3 Running pods" deployment_pods
check "Job completes" job_completes
check "namespace finishes terminating" namespace_deleted
trap - EXIT
echo "smoke: $passed passed, $failed failed"
(( failed == 0 ))
