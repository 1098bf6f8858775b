#!/usr/bin/env bash
# What examples/parsl/ and tests/e2e/test_parsl.py need; re-running does only what is missing:
#   1. Debian packages: python3-workqueue (CCTools' Python bindings, built for Debian's
#      python3 3.11), python3-distutils (the bindings import distutils), python3-venv;
#   2. a virtual environment of Debian's python3 that sees its system site-packages (where the
#      bindings are), with Parsl pinned: $PARSL_VENV, default
#      ~/.cache/workqueue-operator/parsl-venv (the same layout as the manager image's /opt/venv);
#   3. the `ndcctools.work_queue` alias Parsl imports (examples/parsl/ndcctools_alias.py).
# The project's .venv is not touched: Parsl and its dependencies stay out of it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PARSL_VERSION=${PARSL_VERSION:-2026.10.26}
venv=${PARSL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/workqueue-operator/parsl-venv}
python=/usr/bin/python3 # Debian's: the bindings are built for it
log() { printf '==> %s\n' "$*"; }

# --- 1. Debian packages ------------------------------------------------------------------
packages=(python3-workqueue python3-distutils python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
else
  log "Debian packages for Parsl: present"
fi

# --- 2 and 3. The Parsl environment ------------------------------------------------------
ready() {
  "$venv/bin/python" - "$PARSL_VERSION" <<'EOF' >/dev/null 2>&1
import sys
import parsl
from parsl.executors.workqueue import executor
assert parsl.__version__ == sys.argv[1], parsl.__version__
assert executor._work_queue_enabled, executor.IMPORT_EXCEPTION
EOF
}
if [[ -x $venv/bin/python ]] && ready; then
  log "Parsl environment: up to date ($venv, parsl $PARSL_VERSION)"
  exit 0
fi
if [[ ! -x $venv/bin/python ]]; then
  log "creating $venv (Debian's python3, with system site-packages)"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv --system-site-packages "$venv"
fi
log "installing parsl==$PARSL_VERSION into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "parsl==$PARSL_VERSION"
"$venv/bin/python" "$repo/examples/parsl/ndcctools_alias.py"
if ! ready; then
  echo "the Parsl environment in $venv does not work:" >&2
  "$venv/bin/python" -c 'from parsl.executors.workqueue import executor as e; print(e._work_queue_enabled, e.IMPORT_EXCEPTION)' >&2 || true
  exit 1
fi
log "Parsl environment: ready ($venv, parsl $PARSL_VERSION)"
