#!/usr/bin/env bash
# Joins a real node to the local control plane (e2e/cluster/up.sh): a kubelet built from the
# same k8s.io/kubernetes release, Debian's containerd + runc, a CNI bridge network, kube-proxy
# (iptables) and CoreDNS, pulling this project's images from a local registry on 127.0.0.1.
#
#   e2e/node/up.sh           build (cached), start, push images, wait until the node is Ready
#   e2e/node/status.sh       what runs; e2e/node/down.sh stops it (README.md for the rest)
#
# Idempotent: a healthy node is left alone, missing parts are started. Needs root.
# The node is tainted workqueue.dev/real-node=true:NoSchedule and labelled type=real: only
# pods that tolerate the taint (and select the label) run there; KWOK nodes take the rest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
timeout=${WQ_UP_TIMEOUT:-180}

t0=$(wq_now_ms)
step() { printf '[%6ss] %s\n' "$(wq_since "$t0")" "$*"; }

# ---------------------------------------------------------------------------------------------
# What this machine must have. A missing capability ends up.sh with exit status 3 and the
# reason in $wq_node_state/unavailable (the tests skip with that reason); anything else that
# goes wrong is an error (exit 1).
unavailable() {
  mkdir -p "$wq_node_state"
  printf '%s\n' "$*" >"$wq_node_state/unavailable"
  printf 'real node unavailable on this machine: %s\n' "$*" >&2
  exit 3
}
rm -f "$wq_node_state/unavailable"
[[ $(id -u) == 0 ]] || unavailable "the real node needs root (containers, cgroups, network namespaces)"
missing=()
for tool in containerd runc ctr docker-registry ip iptables openssl curl; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap &&
  -x /usr/lib/cni/firewall ]] ||
  missing+=("CNI plugins in /usr/lib/cni")
((${#missing[@]} == 0)) || wq_die "missing: ${missing[*]} (scripts/setup.sh installs them)"
[[ -d /sys/fs/cgroup/memory || -f /sys/fs/cgroup/cgroup.controllers ]] ||
  unavailable "no memory cgroup controller under /sys/fs/cgroup"
[[ -w /sys/fs/cgroup/memory || -w /sys/fs/cgroup ]] || unavailable "/sys/fs/cgroup is not writable"
if ! ip link show "$wq_node_bridge" >/dev/null 2>&1; then
  ip link add "$wq_node_bridge" type bridge 2>/dev/null ||
    unavailable "cannot create a network bridge (ip link add type bridge): no CAP_NET_ADMIN?"
fi

"$here/build.sh"
"$here/../cluster/up.sh" >/dev/null
wq_load_settings
mkdir -p "$wq_node_state" "$wq_node_logs" "$wq_node_pids" "$wq_node_run"
install -d -m 700 "$wq_node_pki"

# One up.sh/down.sh at a time on this node.
wq_take_lock 8 "$wq_node_state/.lock"

# ---------------------------------------------------------------------------------------------
# Certificates, signed by the control plane's CA (remade when that CA changed).
node_cert() {
  wq_cert_valid "$wq_node_pki" "$1" && return 0
  step "creating certificate $1 ($2)"
  wq_sign_cert "$wq_node_pki" "$@"
}
client_ext=$wq_client_ext
umask 077
node_cert kubelet-client "/O=system:nodes/CN=system:node:$wq_node_name" "$client_ext"
node_cert kubelet-serving "/O=system:nodes/CN=system:node:$wq_node_name" \
  "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$wq_node_ip,DNS:$wq_node_name"
# Bound to system:node-proxier by the default RBAC policy.
node_cert kube-proxy "/CN=system:kube-proxy" "$client_ext"
node_cert coredns "/CN=system:wq-coredns" "$client_ext"

node_kubeconfig() { wq_write_kubeconfig "$1" "$wq_node_pki" "$2"; }
node_kubeconfig "$wq_node_state/kubelet.kubeconfig" kubelet-client
node_kubeconfig "$wq_node_state/kube-proxy.kubeconfig" kube-proxy
node_kubeconfig "$wq_node_state/coredns.kubeconfig" coredns
umask 022

# CoreDNS's kubernetes plugin lists and watches Services, Namespaces and EndpointSlices.
wq_kubectl apply -f - >/dev/null <<'RBAC'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:wq-coredns"}
rules:
- apiGroups: [""]
  resources: [services, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:wq-coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:wq-coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:wq-coredns"}
RBAC

# ---------------------------------------------------------------------------------------------
# The bridge exists before any pod, so that kubelet, CoreDNS and the host's servers can listen
# on its address; the CNI bridge plugin adopts it.
# A fixed MAC: a bridge without one takes the lowest MAC of its ports, so it changes when that
# pod goes, and the other pods keep sending to the old one (dropped) until their neighbour entry
# expires: late task results and lost disconnects for ~30 s (containernetworking/plugins#1265).
bridge_mac=${WQ_NODE_BRIDGE_MAC:-02:42:0a:58:00:01}
[[ $(cat "/sys/class/net/$wq_node_bridge/address") == "$bridge_mac" ]] ||
  ip link set "$wq_node_bridge" address "$bridge_mac"
bridge_addrs=$(ip -4 -o addr show dev "$wq_node_bridge")
[[ $bridge_addrs == *" inet $wq_node_ip/"* ]] ||
  ip addr add "$wq_node_ip/${wq_node_pod_cidr#*/}" dev "$wq_node_bridge"
ip link set "$wq_node_bridge" up

# ---------------------------------------------------------------------------------------------
# Configuration files.
mkdir -p "$wq_node_state/cni/net.d" "$wq_node_state/containerd/certs.d/$wq_registry" \
  "$wq_node_state/containerd/certs.d/$wq_registry_pods" "$wq_node_state/registry" \
  "$wq_cache_root/registry"
cat >"$wq_node_state/cni/net.d/10-wq-bridge.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "wq-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$wq_node_bridge",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$wq_node_pod_cidr", "gateway": "$wq_node_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$wq_node_state/cni/ipam"
      }
    },
    {"type": "firewall", "backend": "iptables"},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI

# Images come from the local registry only, in plain HTTP: on loopback (the project's images),
# and on the node's address (what pods push there, e.g. PonchoEnv environment images).
for registry in "$wq_registry" "$wq_registry_pods"; do
  cat >"$wq_node_state/containerd/certs.d/$registry/hosts.toml" <<HOSTS
server = "http://$registry"
[host."http://$registry"]
  capabilities = ["pull", "resolve"]
HOSTS
done

pause_image=$wq_registry/workqueue-operator/pause:$(wq_project_version)
cat >"$wq_node_state/containerd/config.toml" <<TOML
# containerd for the real node of e2e/node (Debian's containerd 1.6 + runc). Own root, state
# and socket: it does not share anything with a dockerd on the same machine.
version = 2
root = "$wq_node_state/containerd/root"
state = "$wq_node_run/containerd/state"
oom_score = 0
[grpc]
  address = "$wq_containerd_sock"
[ttrpc]
  address = "$wq_node_run/containerd/containerd.sock.ttrpc"
[debug]
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # Root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj cannot be set.
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$wq_node_state/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$wq_node_state/containerd/certs.d"
TOML

cat >"$wq_node_state/registry/config.yml" <<REG
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $wq_cache_root/registry}
  delete: {enabled: true}
http:
  addr: $wq_registry
  headers: {X-Content-Type-Options: [nosniff]}
REG
# The same storage, served on the node's address for pods (one http.addr per process). Both
# processes read and write the one filesystem: no cache is configured, so each sees the
# other's pushes at once.
sed "s|addr: $wq_registry|addr: $wq_registry_pods|" "$wq_node_state/registry/config.yml" \
  >"$wq_node_state/registry/config-pods.yml"

# Settings that fit these machines (README.md explains each).
cat >"$wq_node_state/kubelet-config.yaml" <<KCFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $wq_node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $wq_node_pki/kubelet-serving.crt
tlsPrivateKeyFile: $wq_node_pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $wq_pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$wq_containerd_sock
# cgroups here are hybrid v1 and cannot be switched; Kubernetes >= 1.35 refuses v1 unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [$wq_node_ip]
maxPods: ${WQ_NODE_MAX_PODS:-40}
serializeImagePulls: false
# The disk is shared with everything else on the machine: evict only when it is nearly full.
evictionHard: {memory.available: 256Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
# ... but do not keep every image a run ever pulled: one unused for an hour goes (they all come
# from the local registry, so a pod that needs it again pulls it in a second or two).
imageMaximumGCAge: 1h
systemReserved: {memory: ${WQ_NODE_SYSTEM_RESERVED_MEMORY:-2Gi}}
enforceNodeAllocatable: [pods]
registerNode: true
registerWithTaints:
- {key: workqueue.dev/real-node, value: "true", effect: NoSchedule}
containerLogMaxSize: 10Mi
shutdownGracePeriod: 0s
KCFG

cat >"$wq_node_state/kube-proxy-config.yaml" <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $wq_node_state/kube-proxy.kubeconfig}
hostnameOverride: $wq_node_name
mode: iptables
clusterCIDR: $wq_node_pod_cidr
bindAddress: $wq_node_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$wq_node_ip/32"]
# Without br_netfilter, replies between pods on one bridge skip the host's conntrack: SNAT
# all Service traffic so that replies come back through the host.
iptables: {masqueradeAll: true}
# Leave the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0}
KP

# ---------------------------------------------------------------------------------------------
# Processes (same pattern as the control plane: own session, pid file written before exec).
start() {
  local name=$1 pid
  shift
  if pid=$(wq_node_pid "$name"); then
    step "$name already running (pid $pid)"
    return 0
  fi
  wq_spawn "$name" "$wq_node_pids/$name.pid" "$wq_node_logs/$name.log" "$(wq_node_exe "$name")" "$@"
  step "$name started (pid $(<"$wq_node_pids/$name.pid"), log $wq_node_logs/$name.log)"
}

wait_healthy() {
  local name=$1 deadline=$(($(wq_now_ms) + timeout * 1000))
  until wq_node_healthy "$name"; do
    if ! wq_node_pid "$name" >/dev/null; then
      wq_node_log_tail "$name"
      wq_die "$name exited during start-up; its log: $wq_node_logs/$name.log"
    fi
    if (($(wq_now_ms) > deadline)); then
      wq_node_log_tail "$name"
      wq_die "$name not healthy after ${timeout}s (WQ_UP_TIMEOUT); its log: $wq_node_logs/$name.log"
    fi
    sleep 0.25
  done
  step "$name healthy"
}

# The blobs of the manifests deleted at the last start (below) go now, while no registry runs.
# Hygiene: a failure is said and the node starts all the same.
prune() {
  local out
  if out=$("$here/prune-images.sh" "$1"); then
    while read -r line; do step "$line"; done <<<"$out"
  else
    step "warning: e2e/node/prune-images.sh $1 failed (its message above); going on"
  fi
}
if ! wq_node_pid registry >/dev/null && ! wq_node_pid registry-pods >/dev/null; then
  prune registry-gc
fi
start registry serve "$wq_node_state/registry/config.yml"
wait_healthy registry
start registry-pods serve "$wq_node_state/registry/config-pods.yml"
wait_healthy registry-pods

start containerd --config "$wq_node_state/containerd/config.toml"
wait_healthy containerd

if [[ -x $wq_coredns_bin ]]; then
  wq_coredns_corefile "$wq_node_ip" 53 "$wq_node_state/coredns.kubeconfig" >"$wq_node_state/Corefile"
  start coredns -conf "$wq_node_state/Corefile"
  wait_healthy coredns
else
  wq_die "CoreDNS is not built ($wq_coredns_bin): run e2e/node/build.sh"
fi

# The node's images: built here (images/build.sh, cached by content) and pushed to the
# registry (a push of layers the registry has is a no-op).
step "images: building (cached) and pushing to $wq_registry"
read -ra node_images <<<"${WQ_NODE_IMAGES:-}"
"$here/push-images.sh" "${node_images[@]}"
# Older builds and earlier runs' test images: out of the registry and containerd before the
# kubelet starts (it would otherwise keep them until they were unused for an hour of its uptime).
if ! wq_node_pid kubelet >/dev/null; then
  prune stale
fi

start kubelet \
  --config="$wq_node_state/kubelet-config.yaml" \
  --kubeconfig="$wq_node_state/kubelet.kubeconfig" \
  --root-dir="$wq_node_state/kubelet" \
  --cert-dir="$wq_node_pki" \
  --hostname-override="$wq_node_name" \
  --node-ip="$wq_node_ip" \
  --node-labels="type=real,workqueue.dev/real-node=true" \
  --v="${WQ_LOG_LEVEL:-1}"
wait_healthy kubelet

start kube-proxy --config="$wq_node_state/kube-proxy-config.yaml" --v="${WQ_LOG_LEVEL:-1}"
wait_healthy kube-proxy

deadline=$(($(wq_now_ms) + timeout * 1000))
until wq_node_ready; do
  if (($(wq_now_ms) > deadline)); then
    wq_node_log_tail kubelet
    wq_die "node $wq_node_name not Ready after ${timeout}s; kubelet log: $wq_node_logs/kubelet.log"
  fi
  sleep 0.5
done
step "node $wq_node_name Ready (InternalIP $wq_node_ip, pods $wq_node_pod_cidr, registry $wq_registry and $wq_registry_pods)"
