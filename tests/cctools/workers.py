"""Start real ``work_queue_worker`` / ``vine_worker`` processes and make sure they (and their
tasks) die.

Test harness only. A worker runs each task in its own process group and a killed worker
leaves those tasks running (holding the manager's socket), so ``stop`` freezes the worker,
snapshots its whole process tree from /proc, and SIGKILLs every process group in it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.cctools.install import cctools_bin
from workqueue_operator.api.common import Framework

WORKER_BINARIES = {Framework.WORK_QUEUE: "work_queue_worker", Framework.TASKVINE: "vine_worker"}
WORKDIR_OPTIONS = {Framework.WORK_QUEUE: "--workdir", Framework.TASKVINE: "--workspace"}
LOCALHOST = "127.0.0.1"


@dataclass
class WorkerProcess:
    """A running ``work_queue_worker`` and where its output goes."""

    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    argv: list[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def worker_argv(
    host: str,
    port: int,
    *,
    framework: Framework = Framework.WORK_QUEUE,
    cores: int = 1,
    memory: int = 512,
    disk: int = 1024,
    gpus: int = 0,
    timeout: int = 60,
    workdir: Path,
    password_file: Path | None = None,
    single_shot: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """Command line of a worker that declares exactly the given resources."""
    program = WORKER_BINARIES[Framework(framework)]
    binary = cctools_bin() / program
    if not binary.exists():
        raise FileNotFoundError(f"{binary} (scripts/cctools.sh builds CCTools)")
    argv = [
        str(binary),
        f"--cores={cores}",
        f"--memory={memory}",
        f"--disk={disk}",
        f"--gpus={gpus}",
        f"--timeout={timeout}",
        f"{WORKDIR_OPTIONS[Framework(framework)]}={workdir}",
        "--parent-death",
    ]
    if password_file is not None:
        argv.append(f"--password={password_file}")
    if single_shot:
        argv.append("--single-shot")
    argv.extend(extra)
    argv.extend([host, str(port)])
    return argv


def launch(argv: list[str], workdir: Path, log_path: Path) -> WorkerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WorkerProcess(process=process, workdir=workdir, log_path=log_path, argv=argv)


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """Each process's pid and the fields of its /proc stat after the command name (state,
    parent pid, ...); a process gone while it is read is passed over."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may contain spaces.
        yield int(entry.name), stat[stat.rfind(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, fields in process_stats():
        children.setdefault(int(fields[1]), []).append(pid)
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a snapshot)."""
    children = _children_map()
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, []))
    return tree


def processes_under(directory: Path) -> list[int]:
    """Processes whose working directory is inside ``directory`` (a worker's task sandboxes)."""
    root = str(directory.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = str((entry / "cwd").readlink())
        except OSError:
            continue
        if int(entry.name) != os.getpid() and (cwd == root or cwd.startswith(root + os.sep)):
            found.append(int(entry.name))
    return found


def stop(worker: WorkerProcess, grace: float = 0.0) -> None:
    """Kill the worker and every task it started; reap the worker. Never raises."""
    proc = worker.process
    if proc.poll() is None and grace > 0:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGSTOP)  # no new tasks while we look
    pids = process_tree(proc.pid) if proc.poll() is None else []
    # Tasks orphaned by a worker that already died still run in its sandboxes.
    pids += [pid for pid in processes_under(worker.workdir) if pid not in pids]
    for pid in pids:
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


class StartWorker(Protocol):
    """The ``start_worker`` fixture."""

    def __call__(
        self,
        host: str,
        port: int,
        *,
        framework: Framework = Framework.WORK_QUEUE,
        cores: int = 1,
        memory: int = 512,
        disk: int = 1024,
        timeout: int = 60,
        password_file: Path | None = None,
        extra: tuple[str, ...] = (),
    ) -> WorkerProcess: ...
