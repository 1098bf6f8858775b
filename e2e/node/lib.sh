# shellcheck shell=bash disable=SC2034 # settings used by the scripts that source this
# Settings and helpers of the real node (up.sh, down.sh, status.sh). Sourced, never run.
# Builds on the control plane's lib.sh (same cache, CA and kubectl).
wq_node_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../cluster/lib.sh
source "$wq_node_here/../cluster/lib.sh"

wq_node_bin=$wq_cache_root/$K8S_VERSION/node-bin
wq_node_state=${WQ_NODE_DIR:-$wq_cache_root/node}
[[ $wq_node_state == /* ]] || wq_node_state=$PWD/$wq_node_state
wq_node_logs=$wq_node_state/logs
wq_node_pids=$wq_node_state/pids
wq_node_pki=$wq_node_state/pki
# containerd's runtime state (sockets, task bundles, mounts): tmpfs-like, not kept.
wq_node_run=${WQ_NODE_RUN_DIR:-/run/wq-node}
wq_node_name=${WQ_NODE_NAME:-wq-real-node}
# The pods' bridge network. The host end of the bridge is the node's InternalIP: kubelet and
# CoreDNS listen there, pods reach the host there, nothing leaves the machine.
wq_node_bridge=${WQ_NODE_BRIDGE:-wq-cni0}
wq_node_pod_cidr=${WQ_NODE_POD_CIDR:-10.88.0.0/24}
wq_node_ip=${WQ_NODE_IP:-10.88.0.1}
wq_registry_port=${WQ_REGISTRY_PORT:-5000}
wq_registry=127.0.0.1:$wq_registry_port
# The same registry (a second process on the same storage) on the node's address: pods reach
# it there (a build Job pushing an environment image), and containerd pulls from it too.
wq_registry_pods=$wq_node_ip:$wq_registry_port
wq_containerd_sock=$wq_node_run/containerd/containerd.sock
# shellcheck source=coredns/lib.sh
source "$wq_node_here/coredns/lib.sh"

# The project's version (pyproject.toml): the tag of the images pushed to the local registry.
wq_project_version() {
  sed -n 's/^version *= *"\(.*\)"/\1/p' "$wq_node_here/../../pyproject.toml" | head -n1
}

# Components in start order; down.sh stops them in reverse.
wq_node_components=(registry registry-pods containerd coredns kubelet kube-proxy)

# The binary each component runs (pid files are checked against it: pid reuse).
wq_node_exe() {
  case $1 in
    registry | registry-pods) echo /usr/bin/docker-registry ;;
    containerd) echo /usr/bin/containerd ;;
    coredns) echo "$wq_coredns_bin" ;;
    kubelet | kube-proxy) echo "$wq_node_bin/$1" ;;
  esac
}

wq_node_pid() {
  local f=$wq_node_pids/$1.pid pid exe
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  [[ $exe == "$(wq_node_exe "$1")" ]] || return 1
  echo "$pid"
}

wq_node_healthy() {
  case $1 in
    registry) curl -fsS --max-time 3 "http://$wq_registry/v2/" >/dev/null 2>&1 ;;
    registry-pods) curl -fsS --noproxy '*' --max-time 3 "http://$wq_registry_pods/v2/" >/dev/null 2>&1 ;;
    containerd) ctr --address "$wq_containerd_sock" version >/dev/null 2>&1 ;;
    coredns)
      local pid
      pid=$(wq_node_pid coredns) && wq_coredns_serving "$pid" "${WQ_COREDNS_READY_PORT:-18181}" 53 ;;
    kubelet) curl -fsS --max-time 3 "http://127.0.0.1:10248/healthz" >/dev/null 2>&1 ;;
    kube-proxy) curl -fsS --max-time 3 "http://127.0.0.1:10256/healthz" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

wq_node_log_tail() {
  local f=$wq_node_logs/$1.log
  [[ -f $f ]] || return 0
  printf -- '--- last lines of %s ---\n' "$f" >&2
  tail -n "${WQ_LOG_TAIL:-40}" "$f" >&2
}

# Is the node object Ready?
wq_node_ready() {
  [[ $(wq_kubectl get node "$wq_node_name" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}
