#!/usr/bin/env bash
# Set up everything the demo and the tests need, on a fresh Debian machine or a warm one:
#   1. Debian packages (compilers for CCTools, promtool, openssl, ...) when any is missing;
#   2. a Python virtual environment in .venv with this package and its dev tools;
#   3. CCTools 7.17.1 built from source into ~/.cache (scripts/cctools.sh; cached), its
#      programs for the tests and the demo, its `ndcctools` package importable from .venv;
#      and the CCTools devel head when it is vendored (its bucketing modes for the sizing
#      tests and `simulate`);
#   4. the local control plane's binaries, built from Go modules into ~/.cache (cached);
#   5. the real node's binaries (kubelet, kube-proxy, CoreDNS), the same way (cached).
# Re-running it does only what is missing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf '==> %s\n' "$*"; }

# --- 1. Debian packages ------------------------------------------------------------------
packages=(
  # CCTools from source (scripts/cctools.sh): compilers, SWIG for its Python package, zlib,
  # OpenSSL (TLS between managers and workers) and Python headers
  gcc g++ make libc6-dev swig zlib1g-dev libssl-dev python3-dev
  prometheus                # promtool check metrics, check/test rules; the server for tests
  openssl curl ca-certificates python3-venv
  shellcheck                # make lint checks the shell scripts
  # the real node of the e2e suite (e2e/node/) and the images it runs (images/)
  containerd runc docker-registry containernetworking-plugins iptables iproute2 conntrack
  docker.io mmdebstrap
)
missing=()
for p in "${packages[@]}"; do
  [[ $p == \#* ]] && continue
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
  log "Debian packages: present"
fi

# --- 2. Python ---------------------------------------------------------------------------
python=${PYTHON:-python3}
stamp=.venv/.installed
want=$(sha256sum <pyproject.toml | cut -c1-16)
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv"
  "$python" -m venv .venv
fi
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log "installing the package and dev tools into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
else
  log "Python environment: up to date"
fi

# --- 3. CCTools 7.17.1 from source ---------------------------------------------------------
# Built for .venv's interpreter; a .pth file makes `import ndcctools` work in .venv (the
# package's programs stay in the prefix: source e2e/cluster/env.sh puts them on PATH).
cctools=$(PYTHON=.venv/bin/python bash scripts/cctools.sh)
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pyver=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "$cctools/lib/python$pyver/site-packages" >"$site/cctools.pth"
.venv/bin/python -c 'import ndcctools.work_queue, ndcctools.taskvine' ||
  { echo "setup: ndcctools from $cctools does not import in .venv" >&2; exit 1; }

# --- 3a. The CCTools devel head, when vendored (about 15 s; cached) -------------------------
# Its bucketing library adds det-greedy, det-exhaustive and quantized to `simulate` and to the
# driver's tests (tests/unit/test_sizing_cctools.py), which run only the builds they find.
# Not vendored: cctools.sh says so and builds nothing, and those modes' tests are skipped.
PYTHON=.venv/bin/python bash scripts/cctools.sh devel-if-vendored >/dev/null

# --- 3b. Parsl for the Parsl example's end-to-end test (its own venv) ----------------------
bash scripts/parsl-env.sh

# --- 4. Control plane binaries -------------------------------------------------------------
log "local control plane binaries"
bash e2e/cluster/build.sh

# --- 5. Real node binaries (kubelet, kube-proxy, CoreDNS) ------------------------------------
log "real node binaries"
bash e2e/node/build.sh
