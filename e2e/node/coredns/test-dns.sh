#!/usr/bin/env bash
# Standalone check of CoreDNS against the local control plane (e2e/cluster/up.sh must be up):
# builds CoreDNS (cached), starts it on 127.0.0.1:<free port from 15353> with the admin
# kubeconfig, creates a namespace dnscheck-<random> with a selector-less ClusterIP Service and
# checks with dig that <svc>.<ns>.svc.cluster.local answers the Service's ClusterIP (plus SRV,
# PTR, NXDOMAIN and pod records). Cleans up: namespace deleted, CoreDNS stopped. Exit 0 = pass.
# Settings: WQ_COREDNS_TEST_PORT (15353; first free port from there), WQ_COREDNS_HEALTH_PORT,
# WQ_COREDNS_READY_PORT (first free from 18080 / 18181), WQ_CLUSTER_DIR, WQ_CACHE_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# wq_bin (kubectl) and wq_kubeconfig (admin) of the local control plane.
# shellcheck source=../../cluster/lib.sh
source "$here/../../cluster/lib.sh"

t0=$(wq_now_ms)
step() { printf '[%6ss] %s\n' "$(wq_since "$t0")" "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
kc() { "$wq_bin/kubectl" --kubeconfig "$wq_kubeconfig" "$@"; }

for tool in ss setsid curl; do
  command -v "$tool" >/dev/null || fail "test-dns.sh needs '$tool' on PATH"
done
if ! command -v dig >/dev/null; then
  (( EUID == 0 )) || fail "dig is missing: install dnsutils (apt-get install dnsutils)"
  step "installing dnsutils (dig)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq dnsutils >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq dnsutils >/dev/null; }
  command -v dig >/dev/null || fail "dig still missing after apt-get install dnsutils"
fi
[[ -x $wq_bin/kubectl && -f $wq_kubeconfig ]] ||
  fail "no local cluster ($wq_kubeconfig, $wq_bin/kubectl): run e2e/cluster/up.sh"
kc get --raw /readyz >/dev/null || fail "API server not ready ($wq_kubeconfig): run e2e/cluster/up.sh"

"$here/build.sh"

work=$(mktemp -d /tmp/wq-coredns-test.XXXXXX)
pid_file=$work/coredns.pid
log=$work/coredns.log
ns=dnscheck-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
svc=web
ok=false
cleanup() {
  local rc=$?
  set +e
  if kc get namespace "$ns" >/dev/null 2>&1; then
    kc delete namespace "$ns" --wait=true --timeout=90s >/dev/null &&
      step "namespace $ns deleted" || echo "warning: could not delete namespace $ns" >&2
  fi
  [[ -s $pid_file ]] && wq_coredns_stop "$pid_file"
  if $ok; then
    rm -rf "$work"
  else
    wq_coredns_log_tail "$log"
    echo "test-dns.sh: FAILED (rc $rc); Corefile and log kept in $work" >&2
    (( rc != 0 )) || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(wq_coredns_free_port "${WQ_COREDNS_TEST_PORT:-15353}")
WQ_COREDNS_HEALTH_PORT=$(wq_coredns_free_port "${WQ_COREDNS_HEALTH_PORT:-18080}")
WQ_COREDNS_READY_PORT=$(wq_coredns_free_port "${WQ_COREDNS_READY_PORT:-18181}")
(( WQ_COREDNS_READY_PORT != WQ_COREDNS_HEALTH_PORT )) ||
  WQ_COREDNS_READY_PORT=$(wq_coredns_free_port $((WQ_COREDNS_HEALTH_PORT + 1)))
export WQ_COREDNS_HEALTH_PORT WQ_COREDNS_READY_PORT

wq_coredns_corefile 127.0.0.1 "$port" "$wq_kubeconfig" >"$work/Corefile"
step "starting coredns $wq_coredns_version on 127.0.0.1:$port (health :$WQ_COREDNS_HEALTH_PORT, ready :$WQ_COREDNS_READY_PORT)"
wq_coredns_start "$wq_coredns_bin" "$work/Corefile" "$log" "$pid_file"

step "creating namespace $ns and ClusterIP Service $svc"
kc create namespace "$ns" >/dev/null
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $svc
  namespace: $ns
spec:
  type: ClusterIP
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
EOF
cluster_ip=$(kc -n "$ns" get service "$svc" -o jsonpath='{.spec.clusterIP}')
[[ $cluster_ip =~ ^[0-9]+(\.[0-9]+){3}$ ]] || fail "Service $ns/$svc has no IPv4 ClusterIP ('$cluster_ip')"
step "Service $ns/$svc has ClusterIP $cluster_ip"

q() { dig @127.0.0.1 -p "$port" +time=2 +tries=2 "$@" || true; }
fqdn=$svc.$ns.svc.cluster.local

# CoreDNS sees the Service through its watch: allow a few seconds.
answer=""
for (( i = 0; i < 40; i++ )); do
  answer=$(q +short "$fqdn" A 2>/dev/null || true)
  [[ -n $answer ]] && break
  sleep 0.25
done
q "$fqdn" A | sed -n '/ANSWER SECTION/,/^$/p'
[[ $answer == "$cluster_ip" ]] || fail "A $fqdn: got '${answer//$'\n'/ }', want $cluster_ip"
step "PASS A $fqdn = $cluster_ip"

srv=$(q +short "_http._tcp.$fqdn" SRV)
[[ $srv == *" 80 $fqdn." ]] || fail "SRV _http._tcp.$fqdn: got '$srv', want port 80 on $fqdn."
step "PASS SRV _http._tcp.$fqdn = $srv"

rev=$(awk -F. '{print $4"."$3"."$2"."$1".in-addr.arpa"}' <<<"$cluster_ip")
ptr=$(q +short "$rev" PTR)
[[ $ptr == "$fqdn." ]] || fail "PTR $rev: got '$ptr', want $fqdn."
step "PASS PTR $rev = $ptr"

status=$(q "nosuchsvc.$ns.svc.cluster.local" A | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
[[ $status == NXDOMAIN ]] || fail "A nosuchsvc.$ns.svc.cluster.local: status '$status', want NXDOMAIN"
step "PASS nosuchsvc.$ns.svc.cluster.local: NXDOMAIN"

pod=$(q +short "10-1-2-3.$ns.pod.cluster.local" A)
[[ $pod == 10.1.2.3 ]] || fail "A 10-1-2-3.$ns.pod.cluster.local: got '$pod', want 10.1.2.3 (pods insecure)"
step "PASS 10-1-2-3.$ns.pod.cluster.local = $pod (pods insecure)"

# Short names, as a pod in $ns resolves them: its resolv.conf (as the kubelet writes it for
# clusterDNS) lists the search path, tried in order with ndots:5. dig +search reads it from
# /etc/resolv.conf, so a private mount namespace gets a pod's one bind-mounted there.
if (( EUID == 0 )) && command -v unshare >/dev/null; then
  printf 'search %s.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5\n' \
    "$ns" >"$work/resolv.conf"
  for name in "$svc" "$svc.$ns" "$svc.$ns.svc"; do
    # shellcheck disable=SC2016 # expanded by the inner shell
    got=$(unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf &&
            dig @127.0.0.1 -p "$2" +time=2 +tries=2 +search +short "$3" A' \
            sh "$work/resolv.conf" "$port" "$name" 2>&1 || true)
    [[ $got == "$cluster_ip" ]] ||
      fail "short name '$name' with a pod's search path: got '${got//$'\n'/ }', want $cluster_ip"
    step "PASS search path: $name = $got"
  done
else
  step "SKIP search-path check (needs root and unshare)"
fi

ok=true
step "all DNS checks passed"
