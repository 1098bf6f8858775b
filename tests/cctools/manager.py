"""``TestManager``: a real Work Queue or TaskVine manager, written with the ``ndcctools`` Python
API, in a process of its own (``manager_program.py``), driven from the test's process.

Test harness only. The manager serves its port (workers, status queries) only while it is
inside ``wait()``, and SWIG's ``wait()`` holds Python's GIL, so the manager cannot share a
process with a test that queries it: the program keeps calling ``wait(1)`` and sends finished
tasks back as JSON lines, which a reader thread here queues for ``wait``/``wait_for``.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from tests.cctools.install import missing_cctools, use_cctools_build
from workqueue_operator.api.common import Framework

log = logging.getLogger(__name__)

PROGRAM = Path(__file__).with_name("manager_program.py")
START_TIMEOUT_S = 30.0
REPLY_TIMEOUT_S = 30.0


class CategoryMode(IntEnum):
    """``work_queue_category_mode_t`` / ``vine_category_mode_t`` (the same numbers)."""

    FIXED = 0
    MAX = 1
    MIN_WASTE = 2
    MAX_THROUGHPUT = 3


@dataclass(frozen=True)
class CategorySpec:
    """Declared maximum resources of a category (None = not declared) and its mode."""

    cores: float | None = None
    memory_mb: float | None = None
    disk_mb: float | None = None
    gpus: float | None = None
    mode: CategoryMode = CategoryMode.FIXED

    def to_command(self) -> dict[str, Any]:
        declared = {
            "cores": self.cores,
            "memory": self.memory_mb,
            "disk": self.disk_mb,
            "gpus": self.gpus,
        }
        return {"max": {k: v for k, v in declared.items() if v is not None}, "mode": int(self.mode)}


@dataclass(frozen=True)
class FinishedTask:
    """A task returned by the manager's ``wait()``."""

    task_id: int
    result: int
    result_str: str
    exit_code: int
    output: str
    category: str
    tag: str
    host: str
    """address:port of the worker that ran it."""
    hostname: str = ""
    measured: dict[str, float] = field(default_factory=dict)
    """What resource_monitor measured (cores, memory MB, disk MB, wall_time s, ...)."""
    allocated: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result == 0 and self.exit_code == 0


class ManagerProgramError(RuntimeError):
    """The manager program reported an error, or died."""


def free_port() -> int:
    """A port that nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


class TestManager:
    """A real manager listening on ``port`` (0 = a free port), run by ``manager_program.py``.

    ``workdir`` holds the program's output and, for TaskVine, its run-info directory (logs,
    transactions, staging). Task ids are the manager's; ``submit`` returns at once.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        port: int = 0,
        *,
        framework: Framework = Framework.WORK_QUEUE,
        workdir: Path,
        name: str | None = None,
        password_file: Path | None = None,
        catalog: str | None = None,
        monitoring: bool = False,
        monitor_dir: Path | None = None,
        transactions_log: Path | None = None,
        categories: Mapping[str, CategorySpec] | None = None,
        keepalive: tuple[int, int] | None = None,
        ssl: tuple[Path, Path] | None = None,
        peer_transfers: bool | None = None,
        tune: Mapping[str, float] | None = None,
        serve: bool = True,
    ) -> None:
        problem = missing_cctools()
        if problem is not None:
            raise ManagerProgramError(problem)
        use_cctools_build()
        self.framework = Framework(framework)
        self.name = name
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "framework": str(self.framework),
            "port": port,
            "name": name,
            "password_file": str(password_file) if password_file else None,
            "catalog": catalog,
            "monitoring": monitoring,
            "monitor_dir": str(monitor_dir) if monitor_dir else None,
            "transactions_log": str(transactions_log) if transactions_log else None,
            "run_info_dir": str(workdir / "vine-run-info"),
            "categories": {k: v.to_command() for k, v in (categories or {}).items()},
            "keepalive": list(keepalive) if keepalive else None,
            "ssl": [str(ssl[0]), str(ssl[1])] if ssl else None,
            "peer_transfers": peer_transfers,
            "tune": dict(tune or {}),
            "serve": serve,
        }
        self.stderr_path = workdir / "manager-program.stderr"
        with self.stderr_path.open("ab") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, str(PROGRAM), json.dumps(config)],
                cwd=workdir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self._finished: queue.Queue[FinishedTask] = queue.Queue()
        self._replies: dict[int, Any] = {}
        self._errors: list[str] = []
        self._ready: dict[str, Any] = {}
        self._changed = threading.Condition()
        self._requests = itertools.count(1)
        self._next_task_id = 1
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="manager-program", daemon=True)
        self._reader.start()
        with self._changed:
            if (
                not self._changed.wait_for(
                    lambda: self._ready or self._process.poll() is not None, START_TIMEOUT_S
                )
                or not self._ready
            ):
                self._process.kill()
                raise ManagerProgramError(f"the manager program did not start: {self._stderr()}")
        self.port: int = int(self._ready["port"])
        self.pid: int = int(self._ready["pid"])
        tx = self._ready.get("transactions_log")
        self.transactions_log: Path | None = Path(tx) if tx else None
        logs = self._ready.get("logs_dir")
        self.logs_dir: Path | None = Path(logs) if logs else None
        log.info(
            "test manager listening",
            extra={"port": self.port, "framework": str(self.framework), "manager_name": name},
        )

    # -- the program's side ----------------------------------------------------------------

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = event.pop("event", None)
            with self._changed:
                if kind == "ready":
                    self._ready = event
                elif kind == "finished":
                    self._finished.put(FinishedTask(**event))
                elif kind == "reply":
                    self._replies[event["req"]] = event["value"]
                elif kind == "error":
                    self._errors.append(str(event["message"]))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _check(self) -> None:
        if self._errors:
            raise ManagerProgramError("; ".join(self._errors))
        if self._process.poll() is not None:
            raise ManagerProgramError(
                f"the manager program exited ({self._process.returncode}): {self._stderr()}"
            )

    def _send(self, op: str, **fields: Any) -> None:
        self._check()
        assert self._process.stdin is not None
        with self._write_lock:
            self._process.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
            self._process.stdin.flush()

    def _ask(self, op: str) -> Any:
        req = next(self._requests)
        self._send(op, req=req)
        with self._changed:
            if not self._changed.wait_for(
                lambda: req in self._replies or self._process.poll() is not None,
                REPLY_TIMEOUT_S,
            ):
                raise ManagerProgramError(f"no answer to {op} in {REPLY_TIMEOUT_S:g} s")
        self._check()
        return self._replies.pop(req)

    # -- configuration and tasks -----------------------------------------------------------

    def declare_category(self, category: str, spec: CategorySpec) -> None:
        self._send("category", name=category, **spec.to_command())

    def declare_temp(self, name: str) -> None:
        """A TaskVine temporary file (lives on workers; moved between them by peer transfer)."""
        self._send("declare", kind="temp", name=name)

    def declare_buffer(self, name: str, text: str, cache: str | None = None) -> None:
        """A file made from ``text``; TaskVine: ``cache`` is its cache level on the workers
        ("workflow", "worker", "forever"; default: not cached)."""
        self._send("declare", kind="buffer", name=name, value=text, cache=cache)

    def declare_file(self, name: str, path: Path, cache: str | None = None) -> None:
        self._send("declare", kind="file", name=name, value=str(path), cache=cache)

    def submit(
        self,
        command: str,
        *,
        category: str | None = None,
        cores: int | None = None,
        memory_mb: int | None = None,
        disk_mb: int | None = None,
        tag: str | None = None,
        max_retries: int | None = None,
        inputs: tuple[tuple[str, str], ...] = (),
        outputs: tuple[tuple[str, str], ...] = (),
    ) -> int:
        """Queue ``command`` (a shell command line); return its task id. ``inputs`` and
        ``outputs`` are (declared file name, name in the task's sandbox) pairs."""
        task_id = self._next_task_id
        self._send(
            "submit",
            id=task_id,
            command=command,
            category=category,
            cores=cores,
            memory_mb=memory_mb,
            disk_mb=disk_mb,
            tag=tag,
            max_retries=max_retries,
            inputs=list(inputs),
            outputs=list(outputs),
        )
        self._next_task_id += 1
        return task_id

    def wait(self, timeout: float) -> FinishedTask | None:
        """Next finished task, or None after ``timeout`` seconds."""
        try:
            return self._finished.get(timeout=timeout)
        except queue.Empty:
            self._check()
            return None

    def wait_for(self, count: int, timeout: float) -> list[FinishedTask]:
        """Wait until ``count`` tasks finished; raise TimeoutError after ``timeout`` seconds."""
        done: list[FinishedTask] = []
        deadline = time.monotonic() + timeout
        while len(done) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(done)} of {count} tasks finished in {timeout} s")
            finished = self.wait(min(left, 1.0))
            if finished is not None:
                done.append(finished)
        return done

    def start_serving(self) -> None:
        """Let the program call ``wait()`` (serve workers and status queries)."""
        self._send("serve", on=True)

    def stop_serving(self) -> None:
        """Keep the program out of ``wait()``: the manager accepts connections, answers none."""
        self._send("serve", on=False)

    # -- figures and teardown --------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        value: dict[str, int] = self._ask("stats")
        return value

    def empty(self) -> bool:
        return bool(self._ask("empty"))

    def shutdown(self) -> None:
        """Ask connected workers to exit and end the program (killed if it does not)."""
        if self._process.poll() is None:
            try:
                assert self._process.stdin is not None
                with self._write_lock:
                    self._process.stdin.write(b'{"op": "exit"}\n')
                    self._process.stdin.close()
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait(timeout=10)
        self._reader.join(timeout=5)

    def __enter__(self) -> TestManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


class ManagerFactory(Protocol):
    """The ``manager_factory`` fixture: keyword arguments of ``TestManager``."""

    def __call__(self, **kwargs: Any) -> TestManager: ...
