"""The status client against real managers: agrees with ``work_queue_status``; passwords;
an unreachable or busy manager raises ManagerUnreachable quickly."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cctools.manager import CategoryMode, CategorySpec, ManagerFactory, free_port
from tests.cctools.polling import wait_until
from tests.cctools.tasks import hold_memory
from tests.cctools.workers import LOCALHOST, StartWorker
from workqueue_operator.wq.status import (
    AuthenticationError,
    ManagerUnreachable,
    StatusClient,
)
from workqueue_operator.wq.status_models import BoundKind

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CATEGORIES = {
    "alpha": CategorySpec(cores=1, memory_mb=200, disk_mb=100),
    "beta": CategorySpec(cores=1, memory_mb=300, disk_mb=100, mode=CategoryMode.MAX),
}


def cli(flag: str, port: int) -> list[list[str]]:
    """Rows of ``work_queue_status FLAG 127.0.0.1 PORT`` (header dropped), split on blanks."""
    binary = shutil.which("work_queue_status")
    if binary is None:
        pytest.skip("work_queue_status not installed")
    out = subprocess.run(
        [binary, "-t", "10", flag, LOCALHOST, str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [line.split() for line in out.splitlines()[1:] if line.strip()]


async def client_view(client: StatusClient) -> dict[str, Any]:
    return {
        "queue": await client.queue_status(),
        "workers": await client.worker_status(),
        "tasks": await client.task_status(),
        "categories": await client.wable_status(),
        "http": await StatusClient(client.host, client.port, http=True).raw("wable_status"),
        "raw": await client.raw("wable_status"),
    }


def test_client_agrees_with_work_queue_status(
    manager_factory: ManagerFactory, start_worker: StartWorker
) -> None:
    manager = manager_factory(monitoring=True, categories=CATEGORIES)
    start_worker(LOCALHOST, manager.port, cores=2, memory=1000, disk=2000)
    manager.submit("true", category="alpha")
    [quick] = manager.wait_for(1, timeout=60)
    assert quick.ok
    # A stable picture for a while: two tasks hold the worker's two cores, two wait.
    for category in ("alpha", "alpha", "beta", "beta"):
        manager.submit(hold_memory(20, 40), category=category)
    assert wait_until(lambda: manager.stats()["tasks_running"] == 2, timeout=30)
    time.sleep(0.5)

    view = asyncio.run(client_view(StatusClient(LOCALHOST, manager.port, timeout=10)))
    queue_rows, worker_rows = cli("-Q", manager.port), cli("-W", manager.port)
    task_rows, category_rows = cli("-T", manager.port), cli("-A", manager.port)
    stats = manager.stats()

    queue = view["queue"]
    [q_row] = queue_rows
    # PROJECT HOST PORT WAITING RUNNING COMPLETE WORKERS
    assert int(q_row[2]) == manager.port
    figures = (queue.tasks_waiting, queue.tasks_running, queue.tasks_done, queue.workers_connected)
    assert figures == tuple(int(v) for v in q_row[3:7]) == (2, 2, 1, 1)
    assert (queue.tasks_waiting, queue.tasks_running, queue.tasks_done) == (
        stats["tasks_waiting"],
        stats["tasks_running"],
        stats["tasks_done"],
    )
    assert (queue.workers_busy, queue.workers_idle, queue.tasks_left) == (1, 0, 0)

    [worker] = view["workers"]
    [w_row] = worker_rows
    # HOST ADDRESS COMPLETED RUNNING CORE_U CORE_A MEM_U MEM_A DISK_U DISK_A
    assert [worker.hostname, worker.address] == w_row[:2]
    assert worker.address.startswith("127.0.0.1:")
    assert [
        worker.tasks_complete,
        worker.tasks_running,
        worker.cores_inuse,
        worker.cores_total,
        worker.memory_inuse,
        worker.memory_total,
        worker.disk_inuse,
        worker.disk_total,
    ] == [float(v) for v in w_row[2:10]]
    assert (worker.cores_total, worker.memory_total, worker.disk_total) == (2, 1000, 2000)
    running = [t.category for t in view["tasks"] if t.state == "running"]
    declared = {name: spec.memory_mb for name, spec in CATEGORIES.items()}
    assert worker.tasks_running == 2
    assert worker.memory_inuse == sum(declared[c] or 0 for c in running if c)
    assert len(worker.current_task_ids) == 2

    # ID STATE PRIORITY HOST COMMAND...: the command (quoted, with spaces) is left out.
    assert sorted((t.task_id, t.state) for t in view["tasks"]) == sorted(
        (int(row[0]), row[1]) for row in task_rows
    )
    assert sorted(t.state for t in view["tasks"]) == ["WAITING", "WAITING", "running", "running"]
    assert {t.command for t in view["tasks"]} == {hold_memory(20, 40)}  # quotes: \' repaired

    # CATEGORY DISPATCHED WAITING FIT-WORKERS MAX-CORES MAX-MEMORY MAX-DISK ("whole queue")
    from_cli = {" ".join(row[:-6]): row[-6:] for row in category_rows}
    rows = {row.category: row for row in view["categories"]}
    assert set(rows) == set(from_cli) == {"whole queue", "alpha", "beta"}
    for name, row in rows.items():
        expected = from_cli[name]
        assert [row.tasks_on_workers, row.tasks_waiting, row.workers_able] == [
            int(v) for v in expected[:3]
        ]
        assert [row.max_cores.raw, row.max_memory.raw, row.max_disk.raw] == expected[3:]
    assert rows["alpha"].max_memory.value == 200
    assert rows["beta"].max_memory.value == 300
    assert rows["beta"].max_memory.kind is BoundKind.DECLARED
    assert view["http"] == view["raw"]  # GET /wable_status answers the same rows


def test_password_protected_manager(
    manager_factory: ManagerFactory, start_worker: StartWorker, tmp_path: Path
) -> None:
    password = tmp_path / "password"
    password.write_text("correct horse battery staple\n")
    manager = manager_factory(password_file=password)
    start_worker(LOCALHOST, manager.port, password_file=password)
    assert wait_until(lambda: manager.stats()["workers_connected"] == 1, timeout=30)

    async def scenario() -> None:
        good = StatusClient(LOCALHOST, manager.port, password=password.read_bytes())
        assert (await good.queue_status()).workers_connected == 1
        assert len(await good.worker_status()) == 1
        with pytest.raises(AuthenticationError):
            await StatusClient(LOCALHOST, manager.port, password=b"wrong\n").queue_status()
        with pytest.raises(AuthenticationError):
            await StatusClient(LOCALHOST, manager.port).queue_status()

    asyncio.run(scenario())


def test_unreachable_manager_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(ManagerUnreachable):
        asyncio.run(StatusClient(LOCALHOST, free_port(), timeout=3).queue_status())
    assert time.monotonic() - started < 1.0


def test_busy_manager_times_out_as_unreachable(manager_factory: ManagerFactory) -> None:
    # A manager outside work_queue_wait (the application busy) accepts but never answers.
    manager = manager_factory(serve=False)
    started = time.monotonic()
    with pytest.raises(ManagerUnreachable, match="within"):
        asyncio.run(StatusClient(LOCALHOST, manager.port, timeout=1.0).queue_status())
    assert time.monotonic() - started < 2.0
