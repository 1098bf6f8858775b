"""pytest fixtures over real CCTools (the 7.17.1 build of scripts/cctools.sh): managers written
with ``ndcctools`` in processes of their own, workers and the catalog as subprocesses.

Test harness only. tests/conftest.py loads them as a plugin for the whole suite.

Every manager is shut down and every worker (with its tasks) is killed at teardown, whatever
the test did.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cctools.catalog import CatalogServer, running_catalog
from tests.cctools.install import missing_cctools, use_cctools_build
from tests.cctools.manager import ManagerFactory, TestManager
from tests.cctools.workers import StartWorker, WorkerProcess, launch, stop, worker_argv
from workqueue_operator.api.common import Framework


def require_cctools() -> None:
    """Fail with the reason when the CCTools build is missing: ``make test`` builds it, so a
    missing build is a broken setup, not a capability this machine lacks."""
    problem = missing_cctools()
    if problem is not None:
        pytest.fail(problem)
    use_cctools_build()


@pytest.fixture
def manager_factory(tmp_path: Path) -> Iterator[ManagerFactory]:
    """Create ``TestManager``s (serving in the background); all are shut down at teardown.

    Keyword arguments go to ``TestManager``; ``workdir`` defaults to a directory in
    ``tmp_path``, a Work Queue manager's ``transactions_log`` to a file there (TaskVine writes
    its own under its run-info directory), and ``serve=False`` keeps the manager out of
    ``wait()``.
    """
    require_cctools()
    created: list[TestManager] = []
    counter = itertools.count()

    def create(**kwargs: Any) -> TestManager:
        n = next(counter)
        kwargs.setdefault("workdir", tmp_path / f"manager-{n}")
        if Framework(kwargs.get("framework", Framework.WORK_QUEUE)) is Framework.WORK_QUEUE:
            kwargs.setdefault("transactions_log", tmp_path / f"transactions-{n}.log")
        m = TestManager(**kwargs)
        created.append(m)
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

    def start(host: str, port: int, **options: Any) -> WorkerProcess:
        """A worker with the ``StartWorker`` options, in a work directory of its own."""
        n = next(counter)
        workdir = tmp_path / f"worker-{n}"
        argv = worker_argv(host, port, workdir=workdir, **options)
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
