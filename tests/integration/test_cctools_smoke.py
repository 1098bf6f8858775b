"""Smoke test of the CCTools harness: a real manager (Work Queue or TaskVine, written with
``ndcctools``) and a real worker of the same CCTools build run one task."""

from __future__ import annotations

import pytest

from tests.cctools.manager import ManagerFactory
from tests.cctools.workers import LOCALHOST, StartWorker
from workqueue_operator.api.common import Framework

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.mark.parametrize("framework", list(Framework))
def test_one_task_runs_to_completion(
    framework: Framework, manager_factory: ManagerFactory, start_worker: StartWorker
) -> None:
    manager = manager_factory(framework=framework)
    worker = start_worker(LOCALHOST, manager.port, framework=framework, memory=256, disk=256)
    task_id = manager.submit("echo hello-$((6*7))", cores=1, memory_mb=100, disk_mb=10)

    [finished] = manager.wait_for(1, timeout=60)

    assert finished.task_id == task_id, worker.log()
    assert finished.ok, (finished.result_str, worker.log())
    assert finished.output == "hello-42\n"
    assert finished.host.startswith("127.0.0.1:"), finished
    stats = manager.stats()
    assert stats["tasks_done"] == 1
    assert stats["workers_connected"] == 1
