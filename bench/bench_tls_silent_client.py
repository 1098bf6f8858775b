"""What one silent client does to a Work Queue manager, with and without TLS (CCTools 7.17.1).

CCTools runs the TLS handshake of each new connection in blocking mode with no time limit
(``link_ssl_wrap_accept`` in ``dttools/src/link.c``), so a client that opens a TCP connection to
the manager's port and sends nothing should hold the manager inside ``wait()``. Each case runs a
real manager (``ndcctools.work_queue``) with a few tasks on this machine, optionally opens such a
connection first, then starts one ``work_queue_worker`` (``--ssl`` with TLS) and counts the tasks
done within the window (docs/workqueuemanager.md#tls quotes the figures).

    .venv/bin/python bench/bench_tls_silent_client.py [--tasks 3] [--window 30]

Needs the CCTools 7.17.1 build (``make setup``) and ``openssl``; nothing else.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the test harness's helpers (tests.*) are reused here

from tests.cctools.install import cctools_bin, cctools_site_packages  # noqa: E402

MANAGER = textwrap.dedent(
    """
    import sys, time, ndcctools.work_queue as wq
    port, tasks, window = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    key, cert = sys.argv[4:6]
    q = wq.WorkQueue(port=port, ssl=(key, cert) if key else None)
    for _ in range(tasks):
        t = wq.Task("true")
        t.specify_cores(1)
        q.submit(t)
    print("ready", flush=True)
    start, done = time.time(), 0
    while not q.empty() and time.time() - start < window:
        if q.wait(1):
            done += 1
    print(f"{done} {time.time() - start:.1f}", flush=True)
    """
)


def tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_case(tls: bool, silent: bool, tasks: int, window: float, work: Path) -> tuple[int, float]:
    """Tasks done, and the seconds the manager's loop ran (it stops at the window or when
    every task is done, but only once ``wait()`` returns)."""
    key = cert = ""
    if tls:
        key, cert = str(work / "key.pem"), str(work / "cert.pem")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(cctools_site_packages()))
    argv = [sys.executable, "-c", MANAGER, str(port), str(tasks), str(window), key, cert]
    log = (work / f"manager-{port}.log").open("w+b")  # a file: a full pipe would stall it
    manager = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=log)
    held = None
    worker = None
    try:
        assert manager.stdout is not None
        if manager.stdout.readline().strip() != b"ready":
            manager.wait(timeout=60)
            raise SystemExit(f"the manager did not start: {tail(log)}")
        if silent:
            held = socket.create_connection(("127.0.0.1", port))
            time.sleep(1)
        worker_argv = [str(cctools_bin() / "work_queue_worker"), "--single-shot", "-t", "60"]
        worker_argv += ["--ssl"] if tls else []
        worker = subprocess.Popen(
            [*worker_argv, "127.0.0.1", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + window + 5
        while time.monotonic() < deadline and manager.poll() is None:
            time.sleep(0.2)
        if held is not None:  # lets a manager held in the handshake go on and report
            held.close()
            held = None
        out, _ = manager.communicate(timeout=60)
        lines = out.decode().strip().splitlines()
        if manager.returncode != 0 or not lines:
            raise SystemExit(f"the manager failed ({manager.returncode}): {tail(log)}")
        done, seconds = lines[-1].split()
        return int(done), float(seconds)
    finally:
        if held is not None:
            held.close()
        for process in (worker, manager):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--window", type=float, default=30.0, help="seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-subj", "/CN=localhost", "-keyout", str(work / "key.pem")),
                *("-out", str(work / "cert.pem")),
            ],
            check=True,
            capture_output=True,
        )
        print(f"{'manager':8} {'silent client':14} tasks done (of {args.tasks}) / loop seconds")
        for tls in (False, True):
            for silent in (False, True):
                done, seconds = run_case(tls, silent, args.tasks, args.window, work)
                name = "TLS" if tls else "plain"
                print(f"{name:8} {'yes' if silent else 'no':14} {done} / {seconds:.1f}")


if __name__ == "__main__":
    main()
