# shellcheck shell=bash
# Settings and helpers shared by up.sh, down.sh and status.sh. Sourced, never run.
# Every setting is an environment variable with a default; see README.md.

wq_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$wq_here/versions.env"

wq_cache_root=${WQ_CACHE_DIR:-$HOME/.cache/workqueue-operator}
wq_bin=$wq_cache_root/$K8S_VERSION/bin
wq_state=${WQ_CLUSTER_DIR:-$wq_cache_root/cluster}
[[ $wq_state == /* ]] || wq_state=$PWD/$wq_state
wq_pki=$wq_state/pki
wq_logs=$wq_state/logs
wq_pids=$wq_state/pids
wq_kubeconfig=$wq_state/kubeconfig

# Components in start order; down.sh stops them in reverse.
wq_components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# Ports (all on 127.0.0.1). A running cluster keeps the ports it was started with: they are
# saved in $wq_state/cluster.env, which wins over the defaults (and over the environment while
# any component runs: change ports with down.sh first).
declare -A wq_port_defaults=(
  [WQ_ETCD_PORT]=12379
  [WQ_ETCD_PEER_PORT]=12380
  [WQ_APISERVER_PORT]=6443
  [WQ_KCM_PORT]=10257
  [WQ_SCHEDULER_PORT]=10259
  [WQ_KWOK_PORT]=10247
)
declare -A wq_port_var=(
  [etcd]=WQ_ETCD_PORT
  [kube-apiserver]=WQ_APISERVER_PORT
  [kube-controller-manager]=WQ_KCM_PORT
  [kube-scheduler]=WQ_SCHEDULER_PORT
  [kwok]=WQ_KWOK_PORT
)

wq_log() { printf '%s\n' "$*"; }
wq_warn() { printf 'warning: %s\n' "$*" >&2; }
wq_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Milliseconds since the epoch, and seconds since $1 (ms) with one decimal.
wq_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
wq_since() { local d=$(( $(wq_now_ms) - $1 )); printf '%d.%d' $(( d / 1000 )) $(( d % 1000 / 100 )); }

# The pid of a running component, or failure. A pid file whose process is gone, or is some
# other program now (pid reuse), does not count.
wq_pid() {
  local f=$wq_pids/$1.pid pid exe
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  [[ $exe == "$wq_bin/$1" ]] || return 1
  echo "$pid"
}

# Is process $1 alive? A zombie is not: here the reaper (pid 1) may take a second or more to
# collect an exited component, and kill -0 still succeeds until then.
wq_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# Removes pid files of components that are not running.
wq_clean_stale_pids() {
  local c
  for c in "${wq_components[@]}"; do
    if [[ -f $wq_pids/$c.pid ]] && ! wq_pid "$c" >/dev/null; then
      wq_log "removing stale pid file of $c"
      rm -f "$wq_pids/$c.pid"
    fi
  done
}

wq_any_running() {
  local c
  for c in "${wq_components[@]}"; do wq_pid "$c" >/dev/null && return 0; done
  return 1
}

# Loads ports: the saved ones while a component runs, else environment, saved, default.
wq_load_settings() {
  local k v running=false
  declare -A saved=()
  if [[ -f $wq_state/cluster.env ]]; then
    while IFS='=' read -r k v; do
      [[ -n ${wq_port_defaults[$k]:-} && $v =~ ^[0-9]+$ ]] && saved[$k]=$v
    done <"$wq_state/cluster.env"
  fi
  wq_any_running && running=true
  for k in "${!wq_port_defaults[@]}"; do
    if $running && [[ -n ${saved[$k]:-} ]]; then
      if [[ -n ${!k:-} && ${!k} != "${saved[$k]}" ]]; then
        wq_warn "$k=${!k} ignored: the running cluster uses ${saved[$k]} (run down.sh to change it)"
      fi
      printf -v "$k" '%s' "${saved[$k]}"
    elif [[ -z ${!k:-} ]]; then
      printf -v "$k" '%s' "${saved[$k]:-${wq_port_defaults[$k]}}"
    fi
    [[ ${!k} =~ ^[0-9]+$ ]] || wq_die "$k must be a port number, not '${!k}'"
    export "${k?}"
  done
}

wq_save_settings() {
  local k
  for k in "${!wq_port_defaults[@]}"; do printf '%s=%s\n' "$k" "${!k}"; done | sort \
    >"$wq_state/cluster.env"
}

wq_port() { local v=${wq_port_var[$1]}; echo "${!v}"; }

# Health of one component: 0 if it answers its health endpoint.
wq_healthy() {
  local port
  port=$(wq_port "$1")
  case $1 in
    etcd)
      curl -fsS --max-time 3 "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"health":"true"' ;;
    kube-apiserver)
      curl -fsS --max-time 3 --cacert "$wq_pki/ca.crt" --cert "$wq_pki/admin.crt" \
        --key "$wq_pki/admin.key" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 ;;
    kube-controller-manager|kube-scheduler)
      curl -fsSk --max-time 3 "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 ;;
    kwok)
      curl -fsS --max-time 3 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

wq_kubectl() { "$wq_bin/kubectl" --kubeconfig "$wq_kubeconfig" "$@"; }

# Is something listening on 127.0.0.1:$1 (or on all addresses)?
wq_port_busy() {
  [[ -n $(ss -Hltn "( sport = :$1 )" 2>/dev/null) ]]
}

# Prints the last lines of a component's log to stderr.
wq_log_tail() {
  local f=$wq_logs/$1.log
  if [[ -f $f ]]; then
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n "${WQ_LOG_TAIL:-40}" "$f" >&2
    printf -- '---\n' >&2
  fi
}

# wq_take_lock FD FILE: one up.sh/down.sh at a time on FILE's state (flock on descriptor FD,
# held until the script exits). Daemons started while it is held must not inherit FD (wq_spawn
# and images/build.sh's dockerd close every descriptor above 2), else they hold it for ever; when
# the wait times out, the error names the processes that hold the file open.
wq_take_lock() {
  local fd=$1 file=$2 holders="" pid line
  eval "exec $fd>\"\$file\""
  if ! flock -n "$fd"; then
    wq_log "waiting for another up.sh/down.sh (lock $file)"
    if ! flock -w "${WQ_LOCK_TIMEOUT:-300}" "$fd"; then
      # The pids that have FILE open, less this shell (fuser's own subshell is gone by then).
      for pid in $(fuser "$file" 2>/dev/null); do
        [[ $pid != "$$" ]] && line=$(ps -o pid=,args= -p "$pid" 2>/dev/null) && holders+=" [$line]"
      done
      wq_die "could not take $file within ${WQ_LOCK_TIMEOUT:-300}s; held open by:${holders:- (unknown)}"
    fi
  fi
}

# The control plane's lock (fd 9).
wq_lock() {
  wq_take_lock 9 "$wq_state/.lock"
}

# Shell code that closes every descriptor above 2 of the shell running it (then it can exec a
# daemon that must not hold the caller's locks or pipes).
# shellcheck disable=SC2016 # expanded by the shell that runs it
wq_close_fds='for wq_f in /proc/$BASHPID/fd/*; do wq_n=${wq_f##*/}; if ((wq_n > 2)); then { eval "exec $wq_n>&-"; } 2>/dev/null; fi; done;'

# wq_spawn NAME PID_FILE LOG EXE [ARGS...]: starts EXE in its own session (setsid, SIGHUP
# ignored) so that it outlives this shell, output appended to LOG; the pid file is written by
# the process itself just before it becomes EXE (exec). No descriptor above 2 is inherited
# (lock descriptors among them).
wq_spawn() {
  local name=$1 pid_file=$2 log=$3 i
  shift 3
  printf '==== %s: starting %s %s\n' "$(date -Is)" "$name" "${*:2}" >>"$log"
  rm -f "$pid_file"
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  nohup setsid bash -c 'echo $$ >"$0"; '"$wq_close_fds"' exec "$@"' "$pid_file" "$@" \
    </dev/null >>"$log" 2>&1 &
  for ((i = 0; i < 50; i++)); do
    [[ -s $pid_file ]] && break
    sleep 0.1
  done
  [[ -s $pid_file ]] || wq_die "$name did not start (no pid file); see $log"
}

# wq_terminate NAME PID GRACE LOG: SIGTERM, SIGKILL after GRACE seconds, wait until gone.
wq_terminate() {
  local name=$1 pid=$2 grace=$3 log=$4 deadline
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(wq_now_ms) + grace * 1000))
  while wq_alive "$pid" && (($(wq_now_ms) < deadline)); do sleep 0.1; done
  if wq_alive "$pid"; then
    wq_warn "$name (pid $pid) still running ${grace}s after SIGTERM: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while wq_alive "$pid"; do sleep 0.1; done
  fi
  printf '==== %s: stopped by down.sh\n' "$(date -Is)" >>"$log"
}

# Certificates and kubeconfigs of components, signed by the cluster's CA ($wq_pki/ca.*).
# shellcheck disable=SC2034 # used by the up.sh scripts
wq_client_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

# wq_cert_valid DIR NAME: DIR/NAME.crt and .key exist and the cluster's CA signed the crt.
wq_cert_valid() {
  [[ -f $1/$2.crt && -f $1/$2.key ]] &&
    openssl verify -CAfile "$wq_pki/ca.crt" "$1/$2.crt" >/dev/null 2>&1
}

# wq_sign_cert DIR NAME SUBJECT EXTENSIONS: a new key and a 10-year certificate in DIR.
wq_sign_cert() {
  local dir=$1 name=$2 subj=$3 ext=$4
  openssl genrsa -out "$dir/$name.key" 2048 2>/dev/null
  openssl req -new -key "$dir/$name.key" -subj "$subj" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$wq_pki/ca.crt" -CAkey "$wq_pki/ca.key" \
    -CAcreateserial -sha256 -days 3650 -out "$dir/$name.crt" \
    -extfile <(printf '%s\n' "$ext") 2>/dev/null
  rm -f "$dir/$name.csr"
}

# wq_write_kubeconfig FILE DIR CERT: a kubeconfig for the client certificate DIR/CERT.*
# (certificates embedded, so the file can be copied elsewhere).
wq_write_kubeconfig() {
  local file=$1 dir=$2 cert=$3
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: workqueue-e2e
  cluster:
    server: https://127.0.0.1:$WQ_APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$wq_pki/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 "$dir/$cert.crt")
    client-key-data: $(base64 -w0 "$dir/$cert.key")
contexts:
- name: workqueue-e2e
  context:
    cluster: workqueue-e2e
    user: $cert
current-context: workqueue-e2e
EOF
  mv "$file.tmp" "$file"
}
