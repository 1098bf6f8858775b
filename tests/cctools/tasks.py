"""Task command lines with known resource use (test harness)."""

from __future__ import annotations

import shlex
import sys


def hold_memory(mib: int, seconds: float) -> str:
    """A command that touches ``mib`` MiB of memory and holds it for ``seconds``.

    resource_monitor will measure about ``mib`` plus the interpreter's own ~10-15 MiB. Hold
    for more than 5 s (the monitor's sampling interval) to be measured reliably. The command
    contains single quotes, which the manager escapes as ``\\'`` in its JSON.
    """
    code = (
        "import time; "
        f"b = bytearray({mib} * 1024 * 1024); "
        "b[::4096] = b'x' * len(b[::4096]); "
        f"time.sleep({seconds})"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"
