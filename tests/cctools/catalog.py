"""A local ``catalog_server`` on 127.0.0.1 (test harness)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.cctools.install import cctools_bin
from tests.cctools.manager import free_port


@dataclass(frozen=True)
class CatalogServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@contextlib.contextmanager
def running_catalog(workdir: Path, lifetime_s: int = 1800) -> Iterator[CatalogServer]:
    """Start ``catalog_server`` on a free port (history kept in ``workdir``); kill it after."""
    binary = cctools_bin() / "catalog_server"
    if not binary.exists():
        raise FileNotFoundError(f"{binary} (scripts/cctools.sh builds CCTools)")
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "catalog_server.log"
    port = free_port()
    argv = [
        str(binary),
        "-p",
        str(port),
        "-I",
        "127.0.0.1",
        "-u",
        f"127.0.0.1:{port}",
        "-l",
        str(lifetime_s),
        "-o",
        str(log_path),
    ]
    process = subprocess.Popen(
        argv,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"catalog_server did not start: {log_path}")
            time.sleep(0.05)
        yield CatalogServer(port, process, log_path)
    finally:
        process.kill()
        process.wait(timeout=10)
