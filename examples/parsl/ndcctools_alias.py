"""Make ``import ndcctools.work_queue`` work with Debian's CCTools Python bindings.

Parsl's WorkQueueExecutor imports ``ndcctools.work_queue``, the layout of conda-forge's
``ndcctools``. Debian's ``python3-workqueue`` installs the same SWIG bindings as the top-level
module ``work_queue`` (for Debian's python3). Run this with the interpreter Parsl runs under: it
writes a two-file package ``ndcctools`` into that interpreter's site-packages whose
``work_queue`` is the top-level module itself, and does nothing when ``ndcctools.work_queue``
already imports.

    python3 ndcctools_alias.py          # prints what it did; exit 1 if no bindings at all
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
from pathlib import Path

ALIAS = '''"""Alias written by examples/parsl/ndcctools_alias.py: Debian's python3-workqueue
installs the CCTools bindings as the top-level module ``work_queue``."""

import sys

import work_queue

sys.modules[__name__] = work_queue
'''


def main() -> int:
    try:
        module = importlib.import_module("ndcctools.work_queue")
    except ImportError:
        pass
    else:
        print(f"ndcctools.work_queue imports already: {module.__file__}")
        return 0
    try:
        bindings = importlib.import_module("work_queue")
    except ImportError as e:
        print(f"no CCTools Python bindings (python3-workqueue or ndcctools): {e}", file=sys.stderr)
        return 1
    package = Path(sysconfig.get_paths()["purelib"]) / "ndcctools"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""CCTools bindings (see work_queue.py)."""\n')
    (package / "work_queue.py").write_text(ALIAS)
    importlib.invalidate_caches()
    alias = importlib.import_module("ndcctools.work_queue")
    assert alias is bindings, (alias, bindings)
    print(f"wrote {package}: ndcctools.work_queue is {bindings.__file__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
