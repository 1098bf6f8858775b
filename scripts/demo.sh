#!/usr/bin/env bash
# `make demo`: every kind of the operator working on the real node of the local cluster.
#   scripts/demo.sh           set up (cached), bring up what is not up, then scripts/demo.py:
#                             an External manager with a two-category backlog, a WorkerPool that
#                             scales out and back idle-first, Buckets sizing that reshapes its
#                             pods from measured use, a PonchoEnv the pool's tasks run in
#   scripts/demo.sh --down    `make demo-down`: removes everything the demo made (its namespace,
#                             volume, storage class, grants, processes); the cluster and the
#                             real node stay up (make node-down, make cluster-down stop them)
# One line per phase with its time; the tools' output goes to .run/wq-demo/demo.log (printed),
# and a failure prints that log's last lines. DEMO_FRAMEWORK=WorkQueue|TaskVine|both (both).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
namespace=${DEMO_NAMESPACE:-wq-demo}
run_dir=$repo/.run/$namespace
log=$run_dir/demo.log
registry=127.0.0.1:${WQ_REGISTRY_PORT:-5000}
# This checkout's operator package first (a .venv made by another clone points elsewhere).
export PYTHONPATH=$repo/operator:$repo${PYTHONPATH:+:$PYTHONPATH}
DEMO_STARTED=$(date +%s.%N)
# The images' lines of images/build.sh, for scripts/demo.py (it would run build.sh again).
DEMO_IMAGES_TSV=$run_dir/images.tsv
export DEMO_STARTED DEMO_IMAGES_TSV
started=$SECONDS
mkdir -p "$run_dir"

stamp() { local s=$((SECONDS - started)); printf '%02d:%02d' $((s / 60)) $((s % 60)); }
say() { printf '%s  %s\n' "$(stamp)" "$*" | tee -a "$log"; }

failed() {  # failed WHAT: the last lines of the log, then exit 1
  {
    printf '%s  FAILED: %s\n' "$(stamp)" "$1"
    printf 'last lines of %s:\n' "$log"
    tail -n 30 "$log" | sed 's/^/  | /'
  } >&2
  exit 1
}

# phase TEXT FIRST-RUN COMMAND...: runs COMMAND with its output in the log; one line when done.
phase() {
  local text=$1 first=$2 t=$SECONDS
  shift 2
  printf '\n==== %s: %s\n' "$(date -u +%FT%TZ)" "$text" >>"$log"
  "$@" >>"$log" 2>&1 || failed "$text (exit status $?)"
  say "$text: done in $((SECONDS - t)) s (first run: $first)"
}

cluster_up() {
  if bash e2e/cluster/status.sh >/dev/null 2>&1; then
    echo "control plane healthy: left as it is"
  else
    bash e2e/cluster/up.sh
  fi
}

# What the demo uses of the node: the registry, containerd, CoreDNS (on the node's address:
# the build pod resolves PyPI through it), kubelet, the Node Ready. Not kube-proxy: no pod of
# the demo goes through a Service.
node_healthy() (
  # shellcheck source=../e2e/node/lib.sh
  source e2e/node/lib.sh
  for c in registry registry-pods containerd coredns kubelet; do
    wq_node_healthy "$c" || { echo "real node: $c not healthy"; exit 1; }
  done
  wq_node_ready || { echo "real node: $wq_node_name not Ready"; exit 1; }
)

node_up() {
  if node_healthy; then
    echo "real node healthy: left as it is"
  else
    bash e2e/node/up.sh
  fi
}

# This checkout's operator, worker and builder images (built when their inputs changed),
# pushed to the node's registry unless it holds their h-HASH tags already.
images() {
  local name ref missing=()
  bash images/build.sh operator worker builder >"$DEMO_IMAGES_TSV"
  cat "$DEMO_IMAGES_TSV"
  while IFS=$'\t' read -r name _ ref _; do
    [[ $name == operator || $name == worker || $name == builder ]] || continue # not cctools, crane
    curl -fsS --noproxy '*' -o /dev/null -I \
      -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
      "http://$registry/v2/workqueue-operator/$name/manifests/${ref##*:}" || missing+=("$name")
  done <"$DEMO_IMAGES_TSV"
  if ((${#missing[@]})); then
    bash e2e/node/push-images.sh "${missing[@]}"
  else
    echo "the registry holds this checkout's operator, worker and builder images"
  fi
}

crds() {
  # shellcheck source=../e2e/cluster/env.sh
  source e2e/cluster/env.sh
  kubectl apply --server-side --force-conflicts -f crds/
  kubectl wait --for=condition=Established --timeout=60s -f crds/
}

rm -f "$DEMO_IMAGES_TSV"
if [[ ${1:-} == --down ]]; then
  log=$run_dir/demo-down.log # its own: the demo's log stays for a look after the demo is gone
  : >"$log"
  .venv/bin/python scripts/demo.py --down 2> >(tee -a "$log" >&2) || failed "demo.py --down"
  if left=$(pgrep -af -- "$run_dir"); then
    echo "processes of the demo still running:" >&2
    echo "$left" >&2
    exit 1
  fi
  echo "no process of the demo left (pgrep -f $run_dir finds none); took $((SECONDS - started)) s"
  exit 0
fi

: >"$log"
echo "make demo: tool output goes to $log"
phase "setup: Debian packages, .venv, CCTools 7.17.1, Kubernetes binaries" "~17 min" \
  bash scripts/setup.sh
phase "control plane (e2e/cluster/up.sh)" "~15 s" cluster_up
phase "real node: kubelet, containerd, registry (e2e/node/up.sh)" "~5 min, most of it building the images" node_up
phase "images: operator, worker, builder in the registry" "with the node" images
phase "CRDs applied from crds/" "~5 s" crds
say "the scenario (scripts/demo.py; warm, ~45 s for the first framework with the environment's build, ~30 s for the next):"
.venv/bin/python scripts/demo.py 2> >(tee -a "$log" >&2) | tee -a "$log" ||
  failed "the scenario (scripts/demo.py)"
