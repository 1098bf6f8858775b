#!/usr/bin/env bash
# What examples/parsl/ and tests/e2e/test_parsl.py need; re-running does only what is missing:
#   a virtual environment, $PARSL_VENV (default ~/.cache/workqueue-operator/parsl-venv; the
#   same layout as the example image's /opt/venv), of the same base Python as the project's
#   .venv, with
#     * the CCTools 7.17.1 build's own `ndcctools` package (work_queue, taskvine) through a
#       .pth file: its SWIG modules are built for that Python's minor version
#       (scripts/cctools.sh, run by scripts/setup.sh before this script);
#     * Parsl pinned, and what ndcctools.taskvine imports besides (cloudpickle, packaging).
#   Its bin/ is what the example's workers need first on PATH: a python3 of the program's
#   minor version with the same Parsl (Parsl's WorkQueueExecutor and TaskVineExecutor both run
#   their tasks as `python3 exec_parsl_function.py ...` on the worker).
# The project's .venv is not touched: Parsl and its dependencies stay out of it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PARSL_VERSION=${PARSL_VERSION:-2026.10.26}
venv=${PARSL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/workqueue-operator/parsl-venv}
log() { printf '==> %s\n' "$*"; }
die() {
  printf 'scripts/parsl-env.sh: %s\n' "$*" >&2
  exit 1
}

# --- The base Python: .venv's (pyenv's 3.11 here), or $PYTHON without a .venv ----------------
if [[ -x $repo/.venv/bin/python ]]; then
  from=$repo/.venv/bin/python
else
  from=${PYTHON:-python3}
  command -v "$from" >/dev/null || die "no .venv and no $from: run scripts/setup.sh first"
fi
read -r base_prefix pyver < <("$from" -c 'import sys; print(sys.base_prefix, "%d.%d" % sys.version_info[:2])')
python=$base_prefix/bin/python$pyver
[[ -x $python ]] || die "no interpreter at $python (the base of $from)"

# --- The CCTools build and its ndcctools package, for that Python ----------------------------
cctools=$(bash "$repo/scripts/cctools.sh" --prefix)
site=$cctools/lib/python$pyver/site-packages
[[ -x $cctools/bin/vine_worker && -x $cctools/bin/work_queue_worker ]] ||
  die "no CCTools build in $cctools: run scripts/setup.sh (or PYTHON=.venv/bin/python scripts/cctools.sh)"
if [[ ! -d $site/ndcctools ]]; then
  built=$(compgen -G "$cctools/lib/python3.*/site-packages/ndcctools" | head -n1 || true)
  die "the CCTools build in $cctools has no ndcctools for Python $pyver${built:+ (only $built)}:" \
    "rebuild it for $python (PYTHON=$from scripts/cctools.sh)"
fi

ready() {
  "$venv/bin/python" - "$PARSL_VERSION" "$site" <<'EOF'
import os
import sys

import ndcctools.taskvine  # the real message when they do not import
import ndcctools.work_queue
import parsl
from parsl.executors.taskvine import manager as vine
from parsl.executors.workqueue import executor as wq

version, site = sys.argv[1:]
assert parsl.__version__ == version, f"parsl {parsl.__version__}, not {version}"
where = os.path.dirname(os.path.dirname(ndcctools.__file__))
assert os.path.samefile(where, site), f"ndcctools from {where}, not {site}"
assert wq._work_queue_enabled, f"WorkQueueExecutor disabled: {wq.IMPORT_EXCEPTION!r}"
assert vine._taskvine_enabled, "TaskVineExecutor disabled: ndcctools.taskvine does not import"
EOF
}

# A venv of another base (e.g. the Debian python3 one of earlier versions) is made again.
if [[ -f $venv/pyvenv.cfg ]] && ! grep -qxF "home = $base_prefix/bin" "$venv/pyvenv.cfg"; then
  log "$venv was made from another Python ($(sed -n 's/^home = //p' "$venv/pyvenv.cfg")): recreating it"
  rm -rf "$venv"
fi
if [[ -x $venv/bin/python ]] && ready >/dev/null 2>&1; then
  log "Parsl environment: up to date ($venv, parsl $PARSL_VERSION, Python $pyver, $site)"
  exit 0
fi
if [[ ! -x $venv/bin/python ]]; then
  log "creating $venv ($python)"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi
venv_site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$site" >"$venv_site/cctools.pth"
log "installing parsl==$PARSL_VERSION, cloudpickle, packaging into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  "parsl==$PARSL_VERSION" cloudpickle packaging
if ! out=$(ready 2>&1); then
  printf 'scripts/parsl-env.sh: the Parsl environment in %s does not work:\n%s\n' "$venv" "$out" >&2
  exit 1
fi
log "Parsl environment: ready ($venv, parsl $PARSL_VERSION, Python $pyver, $site)"
