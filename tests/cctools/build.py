"""Compile the ctypes shim over Debian's static Work Queue libraries, once, into a cache.

Test harness only. The shared object lives at
``$XDG_CACHE_HOME/workqueue-operator/testlib/<hash>/libwqtest.so`` where the hash covers the
shim source, the compiler flags, the pulled symbols and the static libraries' size and mtime,
so a changed shim or an upgraded ``coop-computing-tools-dev`` builds a fresh copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SHIM_SOURCE = Path(__file__).with_name("wqtest_shim.c")
INCLUDE_DIR = Path("/usr/include/cctools")
STATIC_LIBS = (Path("/usr/lib/libwork_queue.a"), Path("/usr/lib/libdttools.a"))
LIB_NAME = "libwqtest.so"

# Public API functions Python calls directly. Each is pulled out of the static archive with
# -Wl,-u,NAME (--whole-archive would drag in auth_globus.o, which fails to load).
PULLED_SYMBOLS: tuple[str, ...] = (
    "work_queue_create",
    "work_queue_delete",
    "work_queue_port",
    "work_queue_empty",
    "work_queue_wait",
    "work_queue_submit",
    "work_queue_specify_name",
    "work_queue_specify_password_file",
    "work_queue_specify_catalog_servers",
    "work_queue_specify_transactions_log",
    "work_queue_specify_category_mode",
    "work_queue_enable_monitoring",
    "work_queue_shut_down_workers",
    "work_queue_result_str",
    "work_queue_task_create",
    "work_queue_task_delete",
    "work_queue_task_specify_category",
    "work_queue_task_specify_cores",
    "work_queue_task_specify_memory",
    "work_queue_task_specify_disk",
    "work_queue_task_specify_tag",
    "work_queue_task_specify_max_retries",
)
CFLAGS: tuple[str, ...] = ("-O1", "-shared", "-fPIC", "-w")
LDLIBS: tuple[str, ...] = ("-lz", "-lm")


class ShimBuildError(RuntimeError):
    """The compiler or the CCTools development files are missing, or the build failed."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "workqueue-operator" / "testlib"


def _build_key() -> str:
    digest = hashlib.sha256()
    digest.update(SHIM_SOURCE.read_bytes())
    digest.update(" ".join(CFLAGS + LDLIBS + PULLED_SYMBOLS).encode())
    for lib in STATIC_LIBS:
        stat = lib.stat()
        digest.update(f"{lib}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _check_prerequisites() -> str:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise ShimBuildError("no C compiler (apt-get install gcc)")
    missing = [str(p) for p in (*STATIC_LIBS, INCLUDE_DIR / "work_queue.h") if not p.exists()]
    if missing:
        raise ShimBuildError(
            f"missing {', '.join(missing)} (apt-get install coop-computing-tools-dev)"
        )
    return compiler


def shim_library(cache: Path | None = None) -> Path:
    """Return the path of the compiled shim, building it if this version is not cached."""
    compiler = _check_prerequisites()
    target_dir = (cache or cache_root()) / _build_key()
    target = target_dir / LIB_NAME
    if target.exists():
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: concurrent test processes never see half a file.
    fd, tmp_name = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=target_dir)
    os.close(fd)
    command = [
        compiler,
        *CFLAGS,
        f"-I{INCLUDE_DIR}",
        "-o",
        tmp_name,
        str(SHIM_SOURCE),
        *(f"-Wl,-u,{name}" for name in PULLED_SYMBOLS),
        *(str(lib) for lib in STATIC_LIBS),
        *LDLIBS,
    ]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise ShimBuildError(f"shim build failed: {' '.join(command)}\n{proc.stderr}")
        Path(tmp_name).replace(target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target
