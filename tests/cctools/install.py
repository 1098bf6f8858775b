"""Where the CCTools build that the tests use is installed (test harness only).

``scripts/setup.sh`` builds CCTools 7.17.1 from the vendored source with ``scripts/cctools.sh``
into ``~/.cache/workqueue-operator/cctools-7.17.1``; ``WQ_CCTOOLS_PREFIX`` points elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CCTOOLS_RELEASE = "7.17.1"


def cctools_prefix() -> Path:
    explicit = os.environ.get("WQ_CCTOOLS_PREFIX")
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("WQ_CACHE_DIR") or Path.home() / ".cache" / "workqueue-operator")
    return cache / f"cctools-{CCTOOLS_RELEASE}"


def cctools_bin() -> Path:
    return cctools_prefix() / "bin"


def cctools_site_packages() -> Path:
    """The ``ndcctools`` package of the build, for this interpreter's minor version."""
    return (
        cctools_prefix()
        / "lib"
        / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        / ("site-packages")
    )


def missing_cctools() -> str | None:
    """Why the CCTools build cannot be used, or None when it can."""
    worker = cctools_bin() / "work_queue_worker"
    if not worker.exists():
        return (
            f"no CCTools build at {cctools_prefix()} (run scripts/setup.sh or scripts/cctools.sh)"
        )
    if not (cctools_site_packages() / "ndcctools" / "taskvine").is_dir():
        return (
            f"the CCTools build at {cctools_prefix()} has no ndcctools for {sys.version.split()[0]}"
        )
    return None


def use_cctools_build() -> None:
    """Put the build's programs first on PATH and its Python package on sys.path and PYTHONPATH
    (for this process and the programs it starts)."""
    path = os.environ.get("PATH", "")
    if str(cctools_bin()) not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([str(cctools_bin()), path])
    site = str(cctools_site_packages())
    if site not in sys.path:
        sys.path.append(site)
    pythonpath = os.environ.get("PYTHONPATH", "")
    if site not in pythonpath.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, site) if p)
