"""The status client against fake managers: canned answers of this machine's CCTools build,
HTTP, password handshake, and every way a manager can fail to answer."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable

import pytest

from tests.unit.wq_helpers import Handler, answer_canned, fake_manager
from workqueue_operator.wq import plain_socket
from workqueue_operator.wq.auth import StreamLines, authenticate
from workqueue_operator.wq.status import (
    AuthenticationError,
    MalformedStatusError,
    ManagerUnreachable,
    StatusClient,
    parse_address,
)
from workqueue_operator.wq.status_models import BoundKind


def run(coro: Awaitable[object]) -> object:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_typed_answers_of_a_real_build() -> None:
    async def scenario() -> None:
        async with fake_manager(answer_canned) as port:
            client = StatusClient("127.0.0.1", port)
            queue = await client.queue_status()
            assert queue.project == "capture-proj"
            assert (queue.tasks_waiting, queue.tasks_running, queue.tasks_done) == (2, 1, 1)
            assert (queue.workers_connected, queue.workers_busy, queue.workers_idle) == (1, 1, 0)
            assert (queue.memory_total, queue.memory_inuse) == (1200, 300)
            workers = await client.worker_status()
            [worker] = workers
            assert worker.hostname == "vm"
            assert worker.address == "127.0.0.1:36900"
            assert (worker.cores_total, worker.cores_inuse, worker.tasks_running) == (2, 1, 1)
            assert worker.current_task_ids == [1]
            assert not worker.is_idle
            tasks = await client.task_status()
            assert [(t.task_id, t.state, t.category) for t in tasks] == [
                (3, "WAITING", "nolimit"),
                (2, "WAITING", "nolimit"),
                (1, "running", "small"),
            ]
            assert tasks[1].command.endswith("b'x'*len(b[::4096]); time.sleep(1)\"")  # \' fixed
            assert tasks[0].memory is None  # -1: not declared
            rows = {row.category: row for row in await client.wable_status()}
            assert set(rows) == {"whole queue", "small", "nolimit", "later"}
            assert rows["whole queue"].is_whole_queue
            assert rows["small"].max_memory.value == 300
            assert rows["small"].max_memory.kind is BoundKind.DECLARED
            assert rows["later"].max_memory.kind is BoundKind.MEASURED
            assert rows["later"].max_cores.value == pytest.approx(0.295)
            assert rows["nolimit"].max_memory.kind is BoundKind.UNKNOWN
            assert [r.category for r in queue.categories] == list(rows)

    run(scenario())


def test_http_mode_gives_the_same_rows() -> None:
    async def scenario() -> None:
        async with fake_manager(answer_canned) as port:
            line = await StatusClient("127.0.0.1", port).raw("wable_status")
            http = await StatusClient("127.0.0.1", port, http=True).raw("wable_status")
            assert line == http and len(line) == 4

    run(scenario())


def test_unknown_request_name_is_refused_locally() -> None:
    with pytest.raises(ValueError, match="unknown status request"):
        run(StatusClient("127.0.0.1", 9).raw("shutdown"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connection_is_unreachable_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(ManagerUnreachable):
        run(StatusClient("127.0.0.1", free_port(), timeout=2).queue_status())
    assert time.monotonic() - started < 1.5


def test_silent_manager_is_unreachable_after_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async def scenario() -> None:
        async with fake_manager(silent) as port:
            started = time.monotonic()
            with pytest.raises(ManagerUnreachable, match=r"within 0\.5 s"):
                await StatusClient("127.0.0.1", port, timeout=0.5).queue_status()
            assert time.monotonic() - started < 2

    run(scenario())


def test_unresolvable_host_is_unreachable() -> None:
    with pytest.raises(ManagerUnreachable):
        run(StatusClient("no-such-host.invalid", 9123, timeout=2).queue_status())


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{not json", MalformedStatusError),
        (b'{"an": "object"}', MalformedStatusError),
        (b"", MalformedStatusError),  # queue_status needs a row
        (b"x" * 5000, MalformedStatusError),  # over max_bytes
    ],
)
def test_malformed_answers(payload: bytes, error: type[Exception]) -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(payload)
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        async with fake_manager(reply) as port:
            with pytest.raises(error):
                await StatusClient("127.0.0.1", port, max_bytes=4096).queue_status()

    run(scenario())


def test_rows_that_do_not_validate_are_skipped() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b'[{"taskid": "x"}, {"taskid": 4, "state": "WAITING"}, 7]')
        writer.close()

    async def scenario() -> None:
        async with fake_manager(reply) as port:
            tasks = await StatusClient("127.0.0.1", port).task_status()
            assert [t.task_id for t in tasks] == [4]

    run(scenario())


def password_manager(password: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await authenticate(StreamLines(reader, writer), password)  # the protocol is symmetric
        except Exception:
            writer.close()
            return
        await answer_canned(reader, writer)

    return handler


def test_password_handshake() -> None:
    async def scenario() -> None:
        async with fake_manager(password_manager(b"s3cret\n")) as port:
            good = StatusClient("127.0.0.1", port, password=b"s3cret\n")
            assert (await good.queue_status()).project == "capture-proj"
            with pytest.raises(AuthenticationError):
                await StatusClient("127.0.0.1", port, password=b"wrong\n").queue_status()
            with pytest.raises(AuthenticationError, match="requires a password"):
                await StatusClient("127.0.0.1", port).queue_status()

    run(scenario())


def test_a_plain_connection_sends_short_lines_at_once() -> None:
    """Nagle's algorithm is off on the client's socket (as on asyncio's own connections): with
    it on, each line of the password handshake waits for the manager's delayed ACK."""

    async def scenario() -> None:
        async with fake_manager(password_manager(b"s3cret\n")) as port:
            sock = await plain_socket.connect("127.0.0.1", port)
            try:
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            finally:
                sock.close()

    run(scenario())


def test_parse_address() -> None:
    assert parse_address("10.0.0.1:9123") == ("10.0.0.1", 9123)
    assert parse_address("manager") == ("manager", 9123)
    assert parse_address("[::1]:80") == ("::1", 80)
    for bad in (":80", "h:port", "h:70000"):
        with pytest.raises(ValueError):
            parse_address(bad)
    with pytest.raises(ValueError):
        StatusClient("h", 1, http=True, password=b"x")
