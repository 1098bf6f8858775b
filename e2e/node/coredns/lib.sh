# shellcheck shell=bash
# CoreDNS as a host process: cluster DNS for the real kubelet node (e2e/node). Sourced; safe under
# `set -euo pipefail` and changes no shell options. Functions:
#   wq_coredns_corefile BIND_IP PORT KUBECONFIG > FILE   prints a Corefile
#   wq_coredns_start BIN COREFILE LOGFILE PIDFILE        starts CoreDNS, waits until ready (30 s)
#   wq_coredns_stop PIDFILE                              stops it (TERM, then KILL after 10 s)
#   wq_coredns_free_port START                           prints the first free port >= START
# Settings (environment): WQ_COREDNS_HEALTH_PORT (18080), WQ_COREDNS_READY_PORT (18181), both
# on 127.0.0.1; WQ_COREDNS_START_TIMEOUT (30 s); WQ_CACHE_DIR (~/.cache/workqueue-operator).

# The release build.sh builds (github.com/coredns/coredns, no replace directives, go 1.26.0).
wq_coredns_version=${WQ_COREDNS_VERSION:-v1.15.0}
# shellcheck disable=SC2034 # used by build.sh, test-dns.sh and the node's scripts
wq_coredns_bin=${WQ_CACHE_DIR:-$HOME/.cache/workqueue-operator}/coredns-$wq_coredns_version/bin/coredns

# Is something listening on port $1 (TCP or UDP, any address)?
wq_coredns_port_busy() {
  [[ -n $(ss -Hltun "( sport = :$1 )" 2>/dev/null) ]]
}

wq_coredns_free_port() {
  local p=$1
  while wq_coredns_port_busy "$p"; do
    p=$((p + 1))
    (( p < 65536 )) || { echo "wq_coredns_free_port: no free port from $1" >&2; return 1; }
  done
  echo "$p"
}

# The usual cluster DNS server block (as kubeadm's), for a host process: the kubernetes plugin
# reads the API through KUBECONFIG; health and ready listen on loopback only.
wq_coredns_corefile() {
  if (( $# != 3 )); then
    echo "usage: wq_coredns_corefile BIND_IP PORT KUBECONFIG" >&2
    return 2
  fi
  local bind_ip=$1 port=$2 kubeconfig=$3
  local health=${WQ_COREDNS_HEALTH_PORT:-18080} ready=${WQ_COREDNS_READY_PORT:-18181}
  cat <<EOF
.:$port {
    bind $bind_ip
    errors
    health 127.0.0.1:$health {
        lameduck 2s
    }
    ready 127.0.0.1:$ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
}
EOF
}

# Prints the last lines of a log to stderr.
wq_coredns_log_tail() {
  if [[ -f $1 ]]; then
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n "${WQ_LOG_TAIL:-40}" "$1" >&2
    printf -- '---\n' >&2
  fi
}

# Prints the pid in PIDFILE if that process is alive and is a coredns (not a reused pid).
wq_coredns_pid() {
  local pid exe
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  [[ ${exe##*/} == coredns ]] || return 1
  echo "$pid"
}

# The ready port and the DNS port of a Corefile written by wq_coredns_corefile.
wq_coredns_ready_port() {
  sed -n 's/^[[:space:]]*ready[[:space:]]\{1,\}[^[:space:]]*:\([0-9]\{1,\}\).*/\1/p' "$1" | head -n1
}
wq_coredns_dns_port() {
  sed -n 's/^\.:\([0-9]\{1,\}\)[[:space:]]*{.*/\1/p' "$1" | head -n1
}

# Ready, and serving DNS: CoreDNS answers /ready a moment before its DNS sockets are open
# (a query then is refused), so its own UDP and TCP listeners on the DNS port are waited for too.
wq_coredns_serving() {
  local pid=$1 ready_port=$2 dns_port=$3
  curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$ready_port/ready" 2>/dev/null || return 1
  [[ -z $dns_port ]] && return 0
  ss -Hlunp "( sport = :$dns_port )" 2>/dev/null | grep -q "pid=$pid," &&
    ss -Hltnp "( sport = :$dns_port )" 2>/dev/null | grep -q "pid=$pid,"
}

wq_coredns_start() {
  if (( $# != 4 )); then
    echo "usage: wq_coredns_start BIN COREFILE LOGFILE PIDFILE" >&2
    return 2
  fi
  local bin=$1 corefile=$2 log=$3 pid_file=$4 pid ready_port dns_port i deadline
  local timeout=${WQ_COREDNS_START_TIMEOUT:-30}
  [[ -x $bin ]] || { echo "wq_coredns_start: $bin is not executable (run build.sh)" >&2; return 1; }
  [[ -f $corefile ]] || { echo "wq_coredns_start: no Corefile $corefile" >&2; return 1; }
  ready_port=$(wq_coredns_ready_port "$corefile")
  [[ -n $ready_port ]] || { echo "wq_coredns_start: no 'ready HOST:PORT' in $corefile" >&2; return 1; }
  dns_port=$(wq_coredns_dns_port "$corefile")
  if pid=$(wq_coredns_pid "$pid_file"); then
    echo "coredns already running (pid $pid, $pid_file)"
    return 0
  fi
  if wq_coredns_port_busy "$ready_port"; then
    ss -Hltnp "( sport = :$ready_port )" >&2 || true
    echo "wq_coredns_start: ready port $ready_port is in use (WQ_COREDNS_READY_PORT)" >&2
    return 1
  fi
  mkdir -p "$(dirname "$log")" "$(dirname "$pid_file")"
  printf '==== %s: starting %s -conf %s\n' "$(date -Is)" "$bin" "$corefile" >>"$log"
  rm -f "$pid_file"
  # Own session, no terminal, no inherited fd 9 (e2e/cluster's lock): as e2e/cluster/up.sh starts
  # its components. The inner shell writes its pid, then becomes CoreDNS by exec.
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pid_file" "$bin" -conf "$corefile" \
    </dev/null >>"$log" 2>&1 9>&- &
  for (( i = 0; i < 50; i++ )); do
    [[ -s $pid_file ]] && break
    sleep 0.1
  done
  if [[ ! -s $pid_file ]]; then
    wq_coredns_log_tail "$log"
    echo "wq_coredns_start: coredns did not start (no pid file); see $log" >&2
    return 1
  fi
  pid=$(<"$pid_file")
  deadline=$(( $(date +%s) + timeout ))
  until wq_coredns_serving "$pid" "$ready_port" "$dns_port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wq_coredns_log_tail "$log"
      echo "wq_coredns_start: coredns exited during start-up; see $log" >&2
      rm -f "$pid_file"
      return 1
    fi
    if (( $(date +%s) >= deadline )); then
      wq_coredns_log_tail "$log"
      echo "wq_coredns_start: coredns not ready after ${timeout}s (http://127.0.0.1:$ready_port/ready, DNS port ${dns_port:-?}); see $log" >&2
      wq_coredns_stop "$pid_file" >&2 || true
      return 1
    fi
    sleep 0.25
  done
  echo "coredns ready (pid $pid, DNS port ${dns_port:-?}, ready http://127.0.0.1:$ready_port/ready, log $log)"
}

wq_coredns_stop() {
  if (( $# != 1 )); then
    echo "usage: wq_coredns_stop PIDFILE" >&2
    return 2
  fi
  local pid_file=$1 pid i
  if ! pid=$(wq_coredns_pid "$pid_file"); then
    rm -f "$pid_file"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  # health's lameduck (2 s) delays the exit a little.
  for (( i = 0; i < 100; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "coredns (pid $pid) still running after 10 s; sending KILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  echo "coredns stopped (pid $pid)"
}
