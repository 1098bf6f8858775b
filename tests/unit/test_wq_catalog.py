"""Catalog lookups: project filter, stale records, bad records, unreachable catalogs."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from aiohttp import web

from workqueue_operator.wq.catalog import CatalogError, find_managers, select_managers

NOW = 1_800_000_000.0


def record(project: str, port: int, age_s: float, **extra: Any) -> dict[str, Any]:
    return {
        "type": "wq_master",
        "project": project,
        "name": "host",
        "address": "10.0.0.5",
        "port": port,
        "lastheardfrom": NOW - age_s,
        "version": "8.0.0 DEVELOPMENT",
        **extra,
    }


RECORDS = [
    record("proj", 1000, age_s=10),
    record("proj", 1001, age_s=5),
    record("proj", 1002, age_s=500),  # stale
    record("other", 1003, age_s=1),
    record("proj", 1004, age_s=1, type="catalog"),  # not a manager
    {"type": "wq_master", "project": "proj", "port": "nope", "lastheardfrom": NOW},
    {"type": "wq_manager", "project": "proj", "name": "h2", "port": 1005, "lastheardfrom": NOW},
]


def test_select_fresh_managers_of_the_project_freshest_first() -> None:
    found = select_managers(RECORDS, "proj", max_age_s=180, now=NOW)
    assert [(m.address, m.last_heard) for m in found] == [
        ("h2:1005", NOW),
        ("10.0.0.5:1001", NOW - 5),
        ("10.0.0.5:1000", NOW - 10),
    ]
    assert select_managers(RECORDS, "absent", now=NOW) == []
    assert len(select_managers(RECORDS, "proj", max_age_s=1000, now=NOW)) == 4


def test_find_managers_over_http() -> None:
    async def scenario() -> None:
        async def query(request: web.Request) -> web.Response:
            fresh = {**record("proj", 7, age_s=0), "lastheardfrom": time.time()}
            stale = {**record("proj", 8, age_s=0), "lastheardfrom": time.time() - 1000}
            return web.json_response([fresh, stale])

        app = web.Application()
        app.router.add_get("/query.json", query)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            [manager] = await find_managers(f"127.0.0.1:{port}", "proj")
            assert manager.port == 7
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_unreachable_catalog_raises_catalog_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CatalogError):
        asyncio.run(find_managers(f"127.0.0.1:{port}", "proj", timeout=2))
