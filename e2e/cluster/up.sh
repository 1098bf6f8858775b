#!/usr/bin/env bash
# Starts a local Kubernetes control plane with KWOK fake nodes, on loopback only:
#   etcd -> kube-apiserver -> kube-controller-manager + kube-scheduler + kwok -> fake nodes.
# Idempotent: a healthy cluster is left alone; a partly running one is completed (components
# whose process is gone are started again). Binaries come from build.sh (cached), state lives in
# ${WQ_CLUSTER_DIR:-~/.cache/workqueue-operator/cluster}. See README.md for settings and debugging.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

nodes=${WQ_KWOK_NODES:-4}
node_cpu=${WQ_KWOK_NODE_CPU:-16}
node_memory=${WQ_KWOK_NODE_MEMORY:-64Gi}
node_pods=${WQ_KWOK_NODE_PODS:-110}
# Real nodes always report ephemeral-storage; pods that request it (worker pods do) need it.
node_disk=${WQ_KWOK_NODE_DISK:-1Ti}
timeout=${WQ_UP_TIMEOUT:-180}
[[ $nodes =~ ^[0-9]+$ ]] || wq_die "WQ_KWOK_NODES must be a number, not '$nodes'"
[[ $timeout =~ ^[0-9]+$ ]] || wq_die "WQ_UP_TIMEOUT must be a number of seconds, not '$timeout'"

t0=$(wq_now_ms)
step() { printf '[%6ss] %s\n' "$(wq_since "$t0")" "$*"; }

for tool in openssl curl ss setsid flock base64; do
  command -v "$tool" >/dev/null || wq_die "up.sh needs '$tool' on PATH"
done

"$here/build.sh"
for c in "${wq_components[@]}" kubectl; do
  [[ -x $wq_bin/$c ]] || wq_die "$wq_bin/$c is missing: build.sh did not produce it"
done

mkdir -p "$wq_state" "$wq_logs" "$wq_pids"
install -d -m 700 "$wq_pki" "$wq_state/etcd" "$wq_state/kubeconfigs"
# One up.sh/down.sh at a time on a state dir.
wq_lock

wq_load_settings

# ---------------------------------------------------------------------------------------------
# Already up?

node_names() { local i; for (( i = 1; i <= nodes; i++ )); do echo "kwok-node-$i"; done; }

# Succeeds when every wanted fake node is Ready and has no taint left from the node lifecycle
# controller (node.kubernetes.io/not-ready etc. keep the scheduler away).
nodes_ready() {
  local out name ready taints want
  declare -A good=()
  (( nodes == 0 )) && return 0
  out=$(wq_kubectl get nodes -l type=kwok -o \
    jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}{"\n"}{end}' \
    2>/dev/null) || return 1
  while read -r name ready taints; do
    [[ $ready == True && -z $taints ]] && good[$name]=1
  done <<<"$out"
  while read -r want; do
    [[ -n ${good[$want]:-} ]] || return 1
  done < <(node_names)
}

# Succeeds when the wanted fake nodes have the wanted capacity (else up.sh applies them again).
nodes_as_wanted() {
  local out name cpu mem pods disk n=0
  out=$(wq_kubectl get nodes -l type=kwok -o \
    jsonpath='{range .items[*]}{.metadata.name} {.status.capacity.cpu} {.status.capacity.memory} {.status.capacity.pods} {.status.capacity.ephemeral-storage}{"\n"}{end}' \
    2>/dev/null) || return 1
  while read -r name cpu mem pods disk; do
    if [[ ! $name =~ ^kwok-node-([0-9]+)$ ]] || (( BASH_REMATCH[1] > nodes )); then continue; fi
    [[ "$cpu $mem $pods $disk" == "$node_cpu $node_memory $node_pods $node_disk" ]] || return 1
    n=$((n + 1))
  done <<<"$out"
  (( n == nodes ))
}

all_healthy() {
  local c
  for c in "${wq_components[@]}"; do
    wq_pid "$c" >/dev/null && wq_healthy "$c" || return 1
  done
  nodes_ready && nodes_as_wanted
}

print_export() {
  echo "export KUBECONFIG=$wq_kubeconfig"
  local pre=""
  [[ -n ${WQ_CLUSTER_DIR:-} ]] && pre="WQ_CLUSTER_DIR=$wq_state "
  echo "# or: ${pre}source $here/env.sh   (also puts kubectl $K8S_VERSION on PATH)"
}

if all_healthy; then
  step "cluster already up and healthy ($wq_state, API https://127.0.0.1:$WQ_APISERVER_PORT)"
  print_export
  exit 0
fi

wq_clean_stale_pids

# Every port a component still to start needs must be free, before anything starts.
busy=()
for c in "${wq_components[@]}"; do
  wq_pid "$c" >/dev/null && continue
  ports=("$(wq_port "$c"):${wq_port_var[$c]}")
  [[ $c == etcd ]] && ports+=("$WQ_ETCD_PEER_PORT:WQ_ETCD_PEER_PORT")
  for p in "${ports[@]}"; do
    if wq_port_busy "${p%%:*}"; then
      busy+=("${p%%:*} (${p#*:}, for $c)")
      ss -Hltnp "( sport = :${p%%:*} )" >&2 || true
    fi
  done
done
if (( ${#busy[@]} )); then
  wq_die "port(s) in use by another process: ${busy[*]}; set those variables to free ports, or stop that process"
fi

# ---------------------------------------------------------------------------------------------
# Certificates (openssl). Kept across restarts; a missing or unverifiable one is made again.

svc_cidr=10.96.0.0/16
first_svc_ip=10.96.0.1
days=3650

new_ca() {
  step "creating CA"
  openssl genrsa -out "$wq_pki/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$wq_pki/ca.key" -sha256 -days "$days" \
    -subj "/CN=workqueue-operator-e2e-ca" -out "$wq_pki/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  # Every leaf signed by an older CA is worthless now.
  rm -f "$wq_pki"/apiserver.crt "$wq_pki"/admin.crt "$wq_pki"/kube-controller-manager.crt \
    "$wq_pki"/kube-scheduler.crt "$wq_pki"/kwok.crt "$wq_pki"/apiserver-kubelet-client.crt
}

# new_cert NAME SUBJECT EXTENSIONS
new_cert() {
  wq_cert_valid "$wq_pki" "$1" && return 0
  step "creating certificate $1 ($2)"
  wq_sign_cert "$wq_pki" "$@"
}

client_ext=$wq_client_ext
server_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:$first_svc_ip,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"

umask 077
[[ -f $wq_pki/ca.crt && -f $wq_pki/ca.key ]] || new_ca
new_cert apiserver "/CN=kube-apiserver" "$server_ext"
new_cert admin "/O=system:masters/CN=kubernetes-admin" "$client_ext"
new_cert kube-controller-manager "/CN=system:kube-controller-manager" "$client_ext"
new_cert kube-scheduler "/CN=system:kube-scheduler" "$client_ext"
# kwok writes status of nodes and pods, leases and deletes pods: it acts as an admin, as under kwokctl.
new_cert kwok "/O=system:masters/CN=kwok-controller" "$client_ext"
# The apiserver's identity towards kubelets (logs, exec, port-forward on the real node, e2e/node).
new_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
if [[ ! -f $wq_pki/sa.key || ! -f $wq_pki/sa.pub ]]; then
  step "creating service-account key pair"
  openssl genrsa -out "$wq_pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$wq_pki/sa.key" -pubout -out "$wq_pki/sa.pub" 2>/dev/null
fi

write_kubeconfig() { wq_write_kubeconfig "$1" "$wq_pki" "$2"; }
write_kubeconfig "$wq_kubeconfig" admin
for c in kube-controller-manager kube-scheduler kwok; do
  write_kubeconfig "$wq_state/kubeconfigs/$c.kubeconfig" "$c"
done
umask 022
wq_save_settings

# ---------------------------------------------------------------------------------------------
# Processes. Each runs in its own session (setsid, SIGHUP ignored) so it outlives this shell;
# the pid file is written by the process itself just before it becomes the component (exec).

start() {
  local name=$1 pid
  shift
  if pid=$(wq_pid "$name"); then
    step "$name already running (pid $pid)"
    return 0
  fi
  wq_spawn "$name" "$wq_pids/$name.pid" "$wq_logs/$name.log" "$wq_bin/$name" "$@"
  step "$name started (pid $(<"$wq_pids/$name.pid"), port $(wq_port "$name"), log $wq_logs/$name.log)"
}

wait_healthy() {
  local name=$1 deadline=$(( $(wq_now_ms) + timeout * 1000 ))
  until wq_healthy "$name"; do
    if ! wq_pid "$name" >/dev/null; then
      wq_log_tail "$name"
      wq_die "$name exited during start-up; its log: $wq_logs/$name.log"
    fi
    if (( $(wq_now_ms) > deadline )); then
      wq_log_tail "$name"
      wq_die "$name not healthy after ${timeout}s (WQ_UP_TIMEOUT); its log: $wq_logs/$name.log"
    fi
    sleep 0.25
  done
  step "$name healthy"
}

v=${WQ_LOG_LEVEL:-1}
# WQ_APISERVER_AUDIT_POLICY: an audit policy file; the apiserver then writes its audit log (JSON
# lines) to logs/audit.log. Benchmarks count the requests of one identity with it.
audit=()
if [[ -n ${WQ_APISERVER_AUDIT_POLICY:-} ]]; then
  [[ -f $WQ_APISERVER_AUDIT_POLICY ]] || wq_die "WQ_APISERVER_AUDIT_POLICY: no file $WQ_APISERVER_AUDIT_POLICY"
  audit=(--audit-policy-file="$WQ_APISERVER_AUDIT_POLICY" --audit-log-path="$wq_logs/audit.log"
    --audit-log-format=json --audit-log-maxsize=2000 --audit-log-maxbackup=1)
fi

start etcd \
  --data-dir="$wq_state/etcd" \
  --listen-client-url="http://127.0.0.1:$WQ_ETCD_PORT" \
  --listen-peer-url="http://127.0.0.1:$WQ_ETCD_PEER_PORT"
wait_healthy etcd

# No network beyond loopback: the advertise address is 127.0.0.1, and the "kubernetes" Service
# gets no Endpoints (a loopback address is invalid there), so the endpoint reconciler is off.
# No aggregated APIs, no front proxy, no cloud provider. Kubelets (only the real node of
# e2e/node has one) are reached with a client certificate and verified against the cluster CA.
start kube-apiserver \
  --etcd-servers="http://127.0.0.1:$WQ_ETCD_PORT" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="$WQ_APISERVER_PORT" \
  --cert-dir="$wq_pki/kube-apiserver" \
  --tls-cert-file="$wq_pki/apiserver.crt" \
  --tls-private-key-file="$wq_pki/apiserver.key" \
  --client-ca-file="$wq_pki/ca.crt" \
  --service-cluster-ip-range="$svc_cidr" \
  --allow-privileged=true \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$wq_pki/sa.pub" \
  --service-account-signing-key-file="$wq_pki/sa.key" \
  --endpoint-reconciler-type=none \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --kubelet-client-certificate="$wq_pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$wq_pki/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$wq_pki/ca.crt" \
  --profiling=false \
  ${audit[@]+"${audit[@]}"} \
  --v="$v"
wait_healthy kube-apiserver

# Controller manager and scheduler authenticate callers of their secure port with the cluster CA
# and TokenReview; no lookup of the front-proxy (request header) CA, which this cluster has none of.
start kube-controller-manager \
  --kubeconfig="$wq_state/kubeconfigs/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$wq_state/kubeconfigs/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$wq_state/kubeconfigs/kube-controller-manager.kubeconfig" \
  --authentication-skip-lookup=true \
  --client-ca-file="$wq_pki/ca.crt" \
  --bind-address=127.0.0.1 \
  --secure-port="$WQ_KCM_PORT" \
  --cert-dir="$wq_pki/kube-controller-manager" \
  --root-ca-file="$wq_pki/ca.crt" \
  --service-account-private-key-file="$wq_pki/sa.key" \
  --cluster-signing-cert-file="$wq_pki/ca.crt" \
  --cluster-signing-key-file="$wq_pki/ca.key" \
  --service-cluster-ip-range="$svc_cidr" \
  --cluster-name=workqueue-e2e \
  --controllers='*' \
  --use-service-account-credentials=true \
  --leader-elect=false \
  --profiling=false \
  --v="$v"

start kube-scheduler \
  --kubeconfig="$wq_state/kubeconfigs/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$wq_state/kubeconfigs/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="$wq_state/kubeconfigs/kube-scheduler.kubeconfig" \
  --authentication-skip-lookup=true \
  --client-ca-file="$wq_pki/ca.crt" \
  --bind-address=127.0.0.1 \
  --secure-port="$WQ_SCHEDULER_PORT" \
  --cert-dir="$wq_pki/kube-scheduler" \
  --leader-elect=false \
  --profiling=false \
  --v="$v"

# Fake nodes get InternalIP 127.0.0.1 (nothing else is reachable here); pod IPs come from each
# node's spec.podCIDR (10.x, fake: never connect to them), or from --cidr for nodes without one.
start kwok \
  --kubeconfig="$wq_state/kubeconfigs/kwok.kubeconfig" \
  --config="$here/kwok/stages.yaml" \
  --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 \
  --node-ip=127.0.0.1 \
  --cidr=10.0.0.0/16 \
  --server-address="127.0.0.1:$WQ_KWOK_PORT"

wait_healthy kube-controller-manager
wait_healthy kube-scheduler
wait_healthy kwok

# ---------------------------------------------------------------------------------------------
# Fake nodes: no taints, label type=kwok, the kwok annotation, capacity from the environment.

node_manifest() {
  local i name cidr
  for (( i = 1; i <= nodes; i++ )); do
    name=kwok-node-$i
    cidr=10.$(( 244 + i / 256 )).$(( i % 256 )).0/24
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
spec:
  podCIDR: $cidr
  podCIDRs: [$cidr]
status:
  capacity: {cpu: "$node_cpu", memory: "$node_memory", pods: "$node_pods", ephemeral-storage: "$node_disk"}
  allocatable: {cpu: "$node_cpu", memory: "$node_memory", pods: "$node_pods", ephemeral-storage: "$node_disk"}
EOF
  done
}

if (( nodes > 0 )); then
  # Status is taken from the body only on create; a node that exists already gets its
  # capacity patched through the status subresource when the settings changed.
  node_manifest | wq_kubectl apply -f - >/dev/null
  want="$node_cpu $node_memory $node_pods $node_disk"
  while read -r name cpu mem pods disk; do
    if [[ ! $name =~ ^kwok-node-([0-9]+)$ ]] || (( BASH_REMATCH[1] > nodes )); then continue; fi
    if [[ "$cpu $mem $pods $disk" != "$want" ]]; then
      res="{\"cpu\":\"$node_cpu\",\"memory\":\"$node_memory\",\"pods\":\"$node_pods\",\"ephemeral-storage\":\"$node_disk\"}"
      wq_kubectl patch node "$name" --subresource=status --type=merge \
        -p "{\"status\":{\"capacity\":$res,\"allocatable\":$res}}" >/dev/null
    fi
  done < <(wq_kubectl get nodes -l type=kwok -o \
    jsonpath='{range .items[*]}{.metadata.name} {.status.capacity.cpu} {.status.capacity.memory} {.status.capacity.pods} {.status.capacity.ephemeral-storage}{"\n"}{end}')
  step "applied $nodes fake node(s) (cpu $node_cpu, memory $node_memory, pods $node_pods, disk $node_disk)"
fi

deadline=$(( $(wq_now_ms) + timeout * 1000 ))
until nodes_ready; do
  if (( $(wq_now_ms) > deadline )); then
    wq_kubectl get nodes -o wide >&2 || true
    wq_log_tail kwok
    wq_die "fake nodes not Ready (and untainted) after ${timeout}s"
  fi
  for c in kwok kube-controller-manager; do
    wq_pid "$c" >/dev/null || { wq_log_tail "$c"; wq_die "$c exited; its log: $wq_logs/$c.log"; }
  done
  sleep 0.25
done
step "$nodes fake node(s) Ready"

until wq_kubectl -n default get serviceaccount default >/dev/null 2>&1; do
  if (( $(wq_now_ms) > deadline )); then
    wq_log_tail kube-controller-manager
    wq_die "ServiceAccount default/default missing after ${timeout}s"
  fi
  sleep 0.25
done
step "ServiceAccount default/default exists"

step "cluster up: Kubernetes $K8S_VERSION, kwok $KWOK_VERSION, API https://127.0.0.1:$WQ_APISERVER_PORT, state $wq_state"
print_export
