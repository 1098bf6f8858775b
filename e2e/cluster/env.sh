# shellcheck shell=bash
# Source me (bash): `source e2e/cluster/env.sh`. Points KUBECONFIG at the local cluster of
# up.sh and puts the cached binaries (kubectl of the same Kubernetes version first, then the
# CCTools 7.17.1 build of scripts/cctools.sh: work_queue_worker, vine_worker, makeflow, ...) on
# PATH. Honours WQ_CACHE_DIR and WQ_CLUSTER_DIR like up.sh. Changes nothing else in your shell.

_wq_env_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_wq_env_k8s=$(sed -n 's/^K8S_VERSION=//p' "$_wq_env_here/versions.env")
_wq_env_cache=${WQ_CACHE_DIR:-$HOME/.cache/workqueue-operator}
_wq_env_state=${WQ_CLUSTER_DIR:-$_wq_env_cache/cluster}
[[ $_wq_env_state == /* ]] || _wq_env_state=$PWD/$_wq_env_state
export KUBECONFIG="$_wq_env_state/kubeconfig"
_wq_env_cctools=$(bash "$_wq_env_here/../../scripts/cctools.sh" --prefix)
for _wq_env_bin in "$_wq_env_cctools/bin" "$_wq_env_cache/$_wq_env_k8s/bin"; do
  case ":$PATH:" in
    *":$_wq_env_bin:"*) ;;
    *) export PATH="$_wq_env_bin:$PATH" ;;
  esac
done
[[ -f $KUBECONFIG ]] || echo "env.sh: $KUBECONFIG does not exist yet: run $_wq_env_here/up.sh" >&2
unset _wq_env_here _wq_env_k8s _wq_env_cache _wq_env_state _wq_env_bin _wq_env_cctools
