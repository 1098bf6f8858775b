#!/usr/bin/env bash
# Stops the real node started by up.sh: kube-proxy (its iptables rules removed), the kubelet,
# every container it ran (killed, then removed), containerd, CoreDNS and the registry; deletes
# the Node object. Keeps images (registry and containerd content), certificates and settings,
# so the next up.sh is warm. `down.sh --purge` also deletes the node's state dir and bridge
# (the registry's images under ~/.cache/workqueue-operator/registry stay). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

purge=false
for arg in "$@"; do
  case $arg in
    --purge) purge=true ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) wq_die "unknown argument '$arg' (usage: down.sh [--purge])" ;;
  esac
done
grace=${WQ_STOP_GRACE:-15}
if [[ ! -d $wq_node_state ]]; then
  echo "nothing to stop: $wq_node_state does not exist"
  exit 0
fi
wq_take_lock 8 "$wq_node_state/.lock"

stop() {
  local c=$1 pid t1
  if ! pid=$(wq_node_pid "$c"); then
    rm -f "$wq_node_pids/$c.pid"
    return 0
  fi
  t1=$(wq_now_ms)
  wq_terminate "$c" "$pid" "$grace" "$wq_node_logs/$c.log"
  rm -f "$wq_node_pids/$c.pid"
  echo "stopped $c (pid $pid) in $(wq_since "$t1")s"
}

# The Node object goes first, while the kubelet still runs: the scheduler stops placing pods.
if [[ -f $wq_kubeconfig ]] && wq_healthy kube-apiserver 2>/dev/null; then
  wq_kubectl delete node "$wq_node_name" --ignore-not-found --wait=false >/dev/null || true
fi
stop kube-proxy
if [[ -x $wq_node_bin/kube-proxy ]]; then
  "$wq_node_bin/kube-proxy" --cleanup >/dev/null 2>&1 || wq_warn "kube-proxy --cleanup failed"
fi
stop kubelet

# The kubelet's containers outlive it (their shims are their parents): kill and remove them.
if wq_node_pid containerd >/dev/null; then
  ctr_() { ctr --address "$wq_containerd_sock" -n k8s.io "$@"; }
  mapfile -t ids < <(ctr_ containers ls -q 2>/dev/null || true)
  for id in "${ids[@]}"; do
    ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in "${ids[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      ctr_ tasks delete "$id" >/dev/null 2>&1 && break
      ctr_ tasks ls -q 2>/dev/null | grep -qx "$id" || break
      sleep 0.2
    done
    ctr_ containers delete "$id" >/dev/null 2>&1 || true
  done
  ((${#ids[@]} == 0)) || echo "removed ${#ids[@]} container(s)"
fi
stop coredns
stop containerd
stop registry-pods
stop registry

# Pod network namespaces and volume mounts left behind.
for ns in /run/netns/cni-*; do
  [[ -e $ns ]] || continue
  umount "$ns" 2>/dev/null || true
  rm -f "$ns"
done
# umount_tree DIR: lazily unmounts DIR, when it is a mount point, and every mount point below it,
# deepest first. The kubelet bind-mounts its root dir onto itself to share mounts with
# containers: a stopped node leaves no mount behind (the next kubelet mounts it again).
umount_tree() {
  local m
  awk -v dir="$1" '$2 == dir || index($2, dir "/") == 1 { print $2 }' /proc/mounts |
    sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
}
umount_tree "$wq_node_state/kubelet"
rm -rf "$wq_node_state/cni/ipam"

if $purge; then
  ip link del "$wq_node_bridge" 2>/dev/null || true
  umount_tree "$wq_node_run"
  umount_tree "$wq_node_state"
  rm -rf "$wq_node_state" "$wq_node_run"
  echo "purged $wq_node_state"
fi
