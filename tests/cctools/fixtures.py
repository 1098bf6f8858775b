"""pytest fixtures over real CCTools: managers in-process, workers as subprocesses.

Test harness only. tests/conftest.py loads them as a plugin for the whole suite.

Every manager is shut down and every worker (with its tasks) is killed at teardown, whatever
the test did.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cctools.catalog import CatalogServer, running_catalog
from tests.cctools.manager import ManagerFactory, TestManager
from tests.cctools.workers import StartWorker, WorkerProcess, launch, stop, worker_argv


def require_cctools() -> None:
    """Skip when the CCTools programs or the development files are not installed."""
    for program in ("work_queue_worker", "resource_monitor", "gcc"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} not installed (coop-computing-tools, gcc)")
    if not Path("/usr/lib/libwork_queue.a").exists():
        pytest.skip("libwork_queue.a not installed (coop-computing-tools-dev)")


@pytest.fixture
def manager_factory(tmp_path: Path) -> Iterator[ManagerFactory]:
    """Create ``TestManager``s (serving in the background); all are shut down at teardown.

    Keyword arguments go to ``TestManager``; ``transactions_log`` defaults to a file in
    ``tmp_path`` and ``serve=False`` leaves the pump thread off.
    """
    require_cctools()
    created: list[TestManager] = []
    counter = itertools.count()

    def create(**kwargs: Any) -> TestManager:
        serve = kwargs.pop("serve", True)
        kwargs.setdefault("transactions_log", tmp_path / f"transactions-{next(counter)}.log")
        m = TestManager(**kwargs)
        created.append(m)
        if serve:
            m.start_serving()
        return m

    yield create
    for m in reversed(created):
        m.shutdown()


@pytest.fixture
def manager(manager_factory: ManagerFactory) -> TestManager:
    """A manager on a free port, serving in the background, logging transactions."""
    return manager_factory()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start real ``work_queue_worker``s; every one (and its tasks) is killed at teardown."""
    require_cctools()
    started: list[WorkerProcess] = []
    counter = itertools.count()

    def start(
        host: str,
        port: int,
        *,
        cores: int = 1,
        memory: int = 512,
        disk: int = 1024,
        timeout: int = 60,
        password_file: Path | None = None,
        extra: tuple[str, ...] = (),
    ) -> WorkerProcess:
        n = next(counter)
        workdir = tmp_path / f"worker-{n}"
        argv = worker_argv(
            host,
            port,
            cores=cores,
            memory=memory,
            disk=disk,
            timeout=timeout,
            workdir=workdir,
            password_file=password_file,
            extra=extra,
        )
        worker = launch(argv, workdir, tmp_path / f"worker-{n}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        stop(worker)


@pytest.fixture
def catalog_server(tmp_path: Path) -> Iterator[CatalogServer]:
    """A ``catalog_server`` on 127.0.0.1 and a free port, killed at teardown."""
    require_cctools()
    with running_catalog(tmp_path / "catalog") as server:
        yield server
