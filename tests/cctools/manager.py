"""``TestManager``: a real Work Queue manager in this process, driven through ctypes.

Test harness only. The manager serves its port (workers, status queries) only while it is
inside ``work_queue_wait``, so a pump thread keeps calling it and collects finished tasks;
every library call holds one lock because libwork_queue is not thread-safe.
"""

from __future__ import annotations

import ctypes
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from tests.cctools.build import shim_library

log = logging.getLogger(__name__)

STAT_FIELDS: tuple[str, ...] = (
    "workers_connected",
    "workers_idle",
    "workers_busy",
    "tasks_waiting",
    "tasks_on_workers",
    "tasks_running",
    "tasks_with_results",
    "tasks_submitted",
    "tasks_done",
    "tasks_failed",
    "tasks_exhausted_attempts",
)


class CategoryMode(IntEnum):
    """``work_queue_category_mode_t``."""

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


@dataclass(frozen=True)
class FinishedTask:
    """A task returned by ``work_queue_wait``."""

    task_id: int
    result: int
    result_str: str
    exit_code: int
    output: str
    category: str
    tag: str
    host: str
    measured: dict[str, Any] = field(default_factory=dict)
    allocated: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result == 0 and self.exit_code == 0


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    vp, cp, i, i64, d = (
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int64,
        ctypes.c_double,
    )
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "work_queue_create": (vp, [i]),
        "work_queue_delete": (None, [vp]),
        "work_queue_port": (i, [vp]),
        "work_queue_empty": (i, [vp]),
        "work_queue_wait": (vp, [vp, i]),
        "work_queue_submit": (i, [vp, vp]),
        "work_queue_specify_name": (None, [vp, cp]),
        "work_queue_specify_password_file": (i, [vp, cp]),
        "work_queue_specify_catalog_servers": (None, [vp, cp]),
        "work_queue_specify_transactions_log": (i, [vp, cp]),
        "work_queue_specify_category_mode": (i, [vp, cp, i]),
        "work_queue_enable_monitoring": (i, [vp, cp, i]),
        "work_queue_specify_keepalive_interval": (None, [vp, i]),
        "work_queue_specify_keepalive_timeout": (None, [vp, i]),
        "work_queue_shut_down_workers": (i, [vp, i]),
        "work_queue_result_str": (cp, [i]),
        "work_queue_task_create": (vp, [cp]),
        "work_queue_task_delete": (None, [vp]),
        "work_queue_task_specify_category": (None, [vp, cp]),
        "work_queue_task_specify_cores": (None, [vp, i]),
        "work_queue_task_specify_memory": (None, [vp, i64]),
        "work_queue_task_specify_disk": (None, [vp, i64]),
        "work_queue_task_specify_tag": (None, [vp, cp]),
        "work_queue_task_specify_max_retries": (None, [vp, i64]),
        "wqt_category_max": (None, [vp, cp, d, d, d, d]),
        "wqt_task_id": (i, [vp]),
        "wqt_task_result": (i, [vp]),
        "wqt_task_return_status": (i, [vp]),
        "wqt_task_output": (cp, [vp]),
        "wqt_task_tag": (cp, [vp]),
        "wqt_task_category": (cp, [vp]),
        "wqt_task_host": (cp, [vp]),
        # Return char* that we must free: keep them as raw pointers.
        "wqt_task_measured_json": (vp, [vp]),
        "wqt_task_allocated_json": (vp, [vp]),
        "wqt_free": (None, [vp]),
        "wqt_stats": (None, [vp, ctypes.POINTER(i64)]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_LOADED: dict[str, ctypes.CDLL] = {}
_LOAD_LOCK = threading.Lock()


def library() -> ctypes.CDLL:
    """The shim, built on first use and loaded once per process."""
    with _LOAD_LOCK:
        if "lib" not in _LOADED:
            _LOADED["lib"] = _load(shim_library())
        return _LOADED["lib"]


def free_port() -> int:
    """A port that nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


class TestManager:
    """A real Work Queue manager listening on ``port`` (0 = a free port)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        port: int = 0,
        *,
        name: str | None = None,
        password_file: Path | None = None,
        catalog: str | None = None,
        monitoring: bool = False,
        monitor_dir: Path | None = None,
        transactions_log: Path | None = None,
        categories: Mapping[str, CategorySpec] | None = None,
        keepalive: tuple[int, int] | None = None,
    ) -> None:
        self._lib = library()
        self._lock = threading.Lock()
        self._finished: queue.Queue[FinishedTask] = queue.Queue()
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self._q = self._create(port)
        self.port: int = self._lib.work_queue_port(self._q)
        self.name = name
        if transactions_log is not None and not self._lib.work_queue_specify_transactions_log(
            self._q, str(transactions_log).encode()
        ):
            raise RuntimeError(f"cannot open transactions log {transactions_log}")
        if catalog is not None:
            self._lib.work_queue_specify_catalog_servers(self._q, catalog.encode())
        if name is not None:
            self._lib.work_queue_specify_name(self._q, name.encode())
        if password_file is not None and not self._lib.work_queue_specify_password_file(
            self._q, str(password_file).encode()
        ):
            raise RuntimeError(f"cannot read password file {password_file}")
        if monitoring:
            directory = str(monitor_dir).encode() if monitor_dir is not None else None
            # watchdog=1: the monitor stops a task that exceeds its declared limits.
            if not self._lib.work_queue_enable_monitoring(self._q, directory, 1):
                raise RuntimeError("cannot enable resource monitoring (resource_monitor missing?)")
        if keepalive is not None:
            # (interval, timeout) in seconds: a worker silent for `interval` is asked to answer
            # and is dropped (its tasks re-queued) if it does not within `timeout`. CCTools'
            # defaults are 120 and 30.
            interval, timeout = keepalive
            self._lib.work_queue_specify_keepalive_interval(self._q, interval)
            self._lib.work_queue_specify_keepalive_timeout(self._q, timeout)
        for category, spec in (categories or {}).items():
            self.declare_category(category, spec)
        log.info("test manager listening", extra={"port": self.port, "manager_name": name})

    def _create(self, port: int) -> int:
        attempts = 5 if port == 0 else 1
        for _ in range(attempts):
            chosen = port or free_port()
            q: int | None = self._lib.work_queue_create(chosen)
            if q:
                return q
        raise RuntimeError(f"cannot create a Work Queue manager on port {port or 'any'}")

    # -- configuration ---------------------------------------------------------------------

    def declare_category(self, category: str, spec: CategorySpec) -> None:
        def value(v: float | None) -> float:
            return -1.0 if v is None else float(v)

        with self._lock:
            self._lib.wqt_category_max(
                self._q,
                category.encode(),
                value(spec.cores),
                value(spec.memory_mb),
                value(spec.disk_mb),
                value(spec.gpus),
            )
            self._lib.work_queue_specify_category_mode(self._q, category.encode(), int(spec.mode))

    # -- tasks -----------------------------------------------------------------------------

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
    ) -> int:
        """Queue ``command`` (a shell command line); return its task id."""
        lib = self._lib
        t = lib.work_queue_task_create(command.encode())
        if not t:
            raise RuntimeError("work_queue_task_create failed")
        if category is not None:
            lib.work_queue_task_specify_category(t, category.encode())
        if cores is not None:
            lib.work_queue_task_specify_cores(t, cores)
        if memory_mb is not None:
            lib.work_queue_task_specify_memory(t, memory_mb)
        if disk_mb is not None:
            lib.work_queue_task_specify_disk(t, disk_mb)
        if tag is not None:
            lib.work_queue_task_specify_tag(t, tag.encode())
        if max_retries is not None:
            lib.work_queue_task_specify_max_retries(t, max_retries)
        with self._lock:
            task_id: int = lib.work_queue_submit(self._q, t)
        return task_id

    def _collect(self, t: int) -> FinishedTask:
        lib = self._lib
        result = lib.wqt_task_result(t)
        finished = FinishedTask(
            task_id=lib.wqt_task_id(t),
            result=result,
            result_str=_text(lib.work_queue_result_str(result)),
            exit_code=lib.wqt_task_return_status(t),
            output=_text(lib.wqt_task_output(t)),
            category=_text(lib.wqt_task_category(t)),
            tag=_text(lib.wqt_task_tag(t)),
            host=_text(lib.wqt_task_host(t)),
            measured=self._json(lib.wqt_task_measured_json(t)),
            allocated=self._json(lib.wqt_task_allocated_json(t)),
        )
        lib.work_queue_task_delete(t)
        return finished

    def _json(self, pointer: int | None) -> dict[str, Any]:
        if not pointer:
            return {}
        try:
            text = _text(ctypes.string_at(pointer))
        finally:
            self._lib.wqt_free(pointer)
        try:
            # CCTools escapes ' as \', which JSON does not allow.
            parsed = json.loads(text.replace("\\'", "'")) if text.strip() else {}
        except json.JSONDecodeError:
            return {"unparsed": text}
        return parsed if isinstance(parsed, dict) else {}

    def _wait_once(self, timeout: int) -> FinishedTask | None:
        with self._lock:
            t = self._lib.work_queue_wait(self._q, timeout)
            return self._collect(t) if t else None

    def wait(self, timeout: float) -> FinishedTask | None:
        """Next finished task, or None after ``timeout`` seconds."""
        if self._pump is not None:
            try:
                return self._finished.get(timeout=timeout)
            except queue.Empty:
                return None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            finished = self._wait_once(max(0, min(1, int(left + 0.999))))
            if finished is not None or time.monotonic() >= deadline:
                return finished

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

    # -- serving in the background -----------------------------------------------------------

    def start_serving(self) -> None:
        """Keep the manager responsive (workers, status queries) from a background thread.

        Finished tasks are then delivered by ``wait``/``wait_for`` from that thread's queue.
        """
        if self._pump is not None:
            return
        self._stop.clear()
        self._pump = threading.Thread(target=self._serve, name=f"wq-{self.port}", daemon=True)
        self._pump.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                finished = self._wait_once(1)
            except Exception:  # the pump must outlive any one bad task
                log.exception("test manager pump failed once")
                finished = None
            if finished is not None:
                self._finished.put(finished)
            time.sleep(0.005)  # let submit() take the lock between waits

    def stop_serving(self) -> None:
        if self._pump is None:
            return
        self._stop.set()
        self._pump.join(timeout=5)
        self._pump = None

    # -- figures and teardown --------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        values = (ctypes.c_int64 * len(STAT_FIELDS))()
        with self._lock:
            self._lib.wqt_stats(self._q, values)
        return dict(zip(STAT_FIELDS, values, strict=True))

    def empty(self) -> bool:
        with self._lock:
            return bool(self._lib.work_queue_empty(self._q))

    def shutdown(self) -> None:
        """Stop serving, ask connected workers to exit and delete the manager."""
        self.stop_serving()
        with self._lock:
            if self._q:
                self._lib.work_queue_shut_down_workers(self._q, 0)
                self._lib.work_queue_delete(self._q)
                self._q = 0

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
    """The ``manager_factory`` fixture: keyword arguments of ``TestManager`` (+ ``serve``)."""

    def __call__(self, **kwargs: Any) -> TestManager: ...
