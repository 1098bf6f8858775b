"""Shared helpers of the test_wq_*.py modules: data paths, a fake manager, metric values."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

DATA = Path(__file__).with_name("wq_data")
REPO = Path(__file__).resolve().parents[2]
# The transactions log of the TopEFT/Coffea run (see ../shared/traces/README.md).
COFFEA_LOG = REPO.parent / "shared" / "traces" / "coffea" / "coffea.summaries"
# Written by a manager of this machine's CCTools build: times in "s", a task exhausting its
# memory then retried with MAX_RESOURCES, a category name with a space.
LOCAL_LOG = DATA / "local_transactions.log"
VINE_LOG = DATA / "vine_transactions.log"  # a TaskVine 7.17.1 manager (tests: see its test)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def canned(name: str) -> bytes:
    return (DATA / f"status_{name}.json").read_bytes()


async def answer_canned(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = (await reader.readline()).decode().strip()
    if request.startswith("GET /"):
        while (await reader.readline()).strip():
            pass  # headers
        name = request.split()[1][1:]
        writer.write(b"HTTP/1.1 200 OK\nConnection: close\nContent-type: text/plain\n\n")
    else:
        name = request
    path = DATA / f"status_{name}.json"
    writer.write(path.read_bytes() if path.exists() else b"")
    await writer.drain()
    writer.close()


@asynccontextmanager
async def fake_manager(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port


def metric_values(text: str) -> dict[str, float]:
    """Each series of a Prometheus text page (name with labels) and its value."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values
