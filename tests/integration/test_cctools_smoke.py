"""Smoke test of the CCTools harness: a real manager and a real worker run one task."""

from __future__ import annotations

import pytest

from tests.cctools.manager import TestManager
from tests.cctools.workers import LOCALHOST, StartWorker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_one_task_runs_to_completion(manager: TestManager, start_worker: StartWorker) -> None:
    worker = start_worker(LOCALHOST, manager.port, cores=1, memory=256, disk=256)
    task_id = manager.submit("echo hello-$((6*7))", cores=1, memory_mb=100, disk_mb=10)

    [finished] = manager.wait_for(1, timeout=60)

    assert finished.task_id == task_id, worker.log()
    assert finished.ok, (finished.result_str, worker.log())
    assert finished.output == "hello-42\n"
    stats = manager.stats()
    assert stats["tasks_done"] == 1
    assert stats["workers_connected"] == 1
