"""The status client against real managers (CCTools 7.17.1, Work Queue and TaskVine): agrees with
``work_queue_status`` / ``vine_status``; a manager of the other framework is named; passwords;
an unreachable or busy manager raises ManagerUnreachable quickly."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cctools.install import cctools_bin
from tests.cctools.manager import CategoryMode, CategorySpec, ManagerFactory, free_port
from tests.cctools.polling import wait_until
from tests.cctools.tasks import hold_memory
from tests.cctools.workers import LOCALHOST, StartWorker
from workqueue_operator.api.common import Framework
from workqueue_operator.managers.tls import self_signed
from workqueue_operator.wq.status import (
    AuthenticationError,
    FrameworkMismatchError,
    ManagerUnreachable,
    StatusClient,
    StatusError,
    TlsError,
    client_tls,
)
from workqueue_operator.wq.status_models import BoundKind

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


CATEGORIES = {
    "alpha": CategorySpec(cores=1, memory_mb=200, disk_mb=100),
    "beta": CategorySpec(cores=1, memory_mb=300, disk_mb=100, mode=CategoryMode.MAX),
}


STATUS_PROGRAMS = {Framework.WORK_QUEUE: "work_queue_status", Framework.TASKVINE: "vine_status"}
TASK_STATES = {
    Framework.WORK_QUEUE: ("WAITING", "RUNNING"),  # Debian's 2023 snapshot said "running"
    Framework.TASKVINE: ("READY", "RUNNING"),
}


def cli(framework: Framework, flag: str, port: int, header: bool = False) -> list[list[str]]:
    """Rows of ``work_queue_status``/``vine_status FLAG 127.0.0.1 PORT`` split on blanks (the
    header row first when ``header``)."""
    out = subprocess.run(
        [str(cctools_bin() / STATUS_PROGRAMS[framework]), "-t", "10", flag, LOCALHOST, str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return rows if header else rows[1:]


async def client_view(client: StatusClient) -> dict[str, Any]:
    return {
        "queue": await client.queue_status(),
        "workers": await client.worker_status(),
        "tasks": await client.task_status(),
        "categories": await client.wable_status(),
        "http": await StatusClient(client.host, client.port, http=True).raw("wable_status"),
        "raw": await client.raw("wable_status"),
    }


@pytest.mark.parametrize("framework", list(Framework))
def test_client_agrees_with_the_frameworks_status_program(
    framework: Framework, manager_factory: ManagerFactory, start_worker: StartWorker
) -> None:
    manager = manager_factory(framework=framework, monitoring=True, categories=CATEGORIES)
    start_worker(LOCALHOST, manager.port, framework=framework, cores=2, memory=1000, disk=2000)
    manager.submit("true", category="alpha")
    [quick] = manager.wait_for(1, timeout=60)
    assert quick.ok
    # A stable picture for a while: two tasks hold the worker's two cores, two wait.
    for category in ("alpha", "alpha", "beta", "beta"):
        manager.submit(hold_memory(20, 40), category=category)
    assert wait_until(lambda: manager.stats()["tasks_running"] == 2, timeout=30)
    time.sleep(0.5)

    client = StatusClient(LOCALHOST, manager.port, timeout=10, framework=framework)
    view = asyncio.run(client_view(client))
    queue_rows, worker_rows = cli(framework, "-Q", manager.port), cli(framework, "-W", manager.port)
    task_rows = cli(framework, "-T", manager.port)
    header, *categories = cli(framework, "-A", manager.port, header=True)
    category_rows = [dict(zip(header, row, strict=True)) for row in categories]
    stats = manager.stats()

    queue = view["queue"]
    assert (
        queue.type
        == {Framework.WORK_QUEUE: "wq_master", Framework.TASKVINE: "vine_manager"}[framework]
    )
    assert queue.version is not None and queue.version.startswith("7.17.1"), queue.version
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
    # HOST ADDRESS COMPLETED RUNNING CORE_U CORE_A MEM_U MEM_A DISK_U DISK_A (vine_status
    # prints ??? for the address, which its own table does not look up)
    assert worker.hostname == w_row[0]
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
    assert worker.tasks_running == 2
    assert len(worker.current_task_ids) == 2

    # ID STATE PRIORITY HOST COMMAND...: the command (quoted, with spaces) is left out.
    assert sorted((t.task_id, t.state) for t in view["tasks"]) == sorted(
        (int(row[0]), row[1]) for row in task_rows
    )
    waiting, running = TASK_STATES[framework]
    assert sorted(t.state for t in view["tasks"]) == sorted([waiting] * 2 + [running] * 2)
    assert {t.command for t in view["tasks"]} == {hold_memory(20, 40)}  # quotes: \' repaired
    assert all(
        t.address and t.address.startswith("127.0.0.1:")
        for t in view["tasks"]
        if t.state == running
    )

    # CATEGORY DISPATCHED WAITING [SUCCESSFUL] FIT-WORKERS MAX-CORES MAX-MEMORY MAX-DISK (the
    # snapshot of 2023 also had a "whole queue" row; 7.17.1 has none)
    rows = {row.category: row for row in view["categories"]}
    from_cli = {row["CATEGORY"]: row for row in category_rows}
    assert set(rows) == set(from_cli) == {"alpha", "beta"}
    for name, row in rows.items():
        expected = from_cli[name]
        assert [row.max_cores.raw, row.max_memory.raw, row.max_disk.raw] == [
            expected["MAX-CORES"],
            expected["MAX-MEMORY"],
            expected["MAX-DISK"],
        ]
        assert [row.tasks_on_workers, row.tasks_waiting, row.workers_able] == [
            int(expected[column]) for column in ("DISPATCHED", "WAITING", "FIT-WORKERS")
        ]
    assert rows["alpha"].max_memory.value == 200
    assert rows["beta"].max_memory.value == 300
    assert rows["beta"].max_memory.kind is BoundKind.DECLARED
    assert rows["beta"].tasks_waiting == 2
    assert view["http"] == view["raw"]  # GET /wable_status answers the same rows


@pytest.mark.parametrize("framework", list(Framework))
def test_a_manager_of_the_other_framework_is_named(
    framework: Framework, manager_factory: ManagerFactory
) -> None:
    manager = manager_factory(framework=framework)
    other = next(f for f in Framework if f is not framework)

    async def scenario() -> None:
        with pytest.raises(FrameworkMismatchError, match=f"is a {framework} manager"):
            await StatusClient(LOCALHOST, manager.port, framework=other).queue_status()

    asyncio.run(scenario())


@pytest.mark.parametrize("framework", list(Framework))
def test_password_protected_manager(
    framework: Framework, manager_factory: ManagerFactory, start_worker: StartWorker, tmp_path: Path
) -> None:
    password = tmp_path / "password"
    password.write_text("correct horse battery staple\n")
    manager = manager_factory(framework=framework, password_file=password)
    start_worker(LOCALHOST, manager.port, framework=framework, password_file=password)
    assert wait_until(lambda: manager.stats()["workers_connected"] == 1, timeout=30)

    def client(password: bytes | None) -> StatusClient:
        return StatusClient(LOCALHOST, manager.port, password=password, framework=framework)

    async def scenario() -> None:
        good = client(password.read_bytes())
        assert (await good.queue_status()).workers_connected == 1
        assert len(await good.worker_status()) == 1
        with pytest.raises(AuthenticationError):
            await client(b"wrong\n").queue_status()
        with pytest.raises(AuthenticationError):
            await client(None).queue_status()

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


@pytest.mark.parametrize("framework", list(Framework))
def test_a_tls_manager_is_polled_with_its_certificate_checked(
    framework: Framework, manager_factory: ManagerFactory, start_worker: StartWorker, tmp_path: Path
) -> None:
    """A manager with a key and certificate (CCTools' ssl), a worker with --ssl, the password
    handshake inside TLS; the client checks the certificate against its CA and the name."""
    mine = self_signed("localhost", ["localhost"], datetime.now(UTC))
    other = self_signed("localhost", ["localhost"], datetime.now(UTC))
    key, cert = tmp_path / "tls.key", tmp_path / "tls.crt"
    key.write_bytes(mine.key_pem)
    cert.write_bytes(mine.certificate_pem)
    password = tmp_path / "password"
    password.write_text("over tls\n")
    manager = manager_factory(framework=framework, ssl=(key, cert), password_file=password)
    start_worker(
        LOCALHOST, manager.port, framework=framework, password_file=password, extra=("--ssl",)
    )
    assert wait_until(lambda: manager.stats()["workers_connected"] == 1, timeout=30)
    manager.submit("echo encrypted")
    [done] = manager.wait_for(1, timeout=60)
    assert done.ok and done.output.strip() == "encrypted"

    def client(tls: ssl.SSLContext | None, name: str = "localhost") -> StatusClient:
        return StatusClient(
            LOCALHOST,
            manager.port,
            password=password.read_bytes(),
            framework=framework,
            tls=tls,
            server_name=name,
            timeout=5,
        )

    async def scenario() -> None:
        checked = await client(client_tls(mine.certificate_pem, verify=True)).queue_status()
        assert checked.workers_connected == 1 and checked.tasks_done == 1
        unchecked = await client(client_tls(None, verify=False)).queue_status()
        assert unchecked.tasks_done == 1
        with pytest.raises(TlsError, match=r"certificate verify failed|self.signed|unable"):
            await client(client_tls(other.certificate_pem, verify=True)).queue_status()
        with pytest.raises(TlsError, match=r"mismatch|match"):
            await client(client_tls(mine.certificate_pem, verify=True), "other.name").queue_status()
        with pytest.raises(StatusError):  # plain text to a TLS port: no answer
            await client(None).queue_status()

    asyncio.run(scenario())
