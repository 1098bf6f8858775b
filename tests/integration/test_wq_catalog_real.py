"""Finding a named manager through a local catalog_server."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.cctools.catalog import CatalogServer
from tests.cctools.manager import ManagerFactory
from workqueue_operator.api.common import Framework
from workqueue_operator.wq.catalog import find_managers
from workqueue_operator.wq.status import StatusClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.mark.parametrize("framework", list(Framework))
def test_named_manager_is_found_by_project(
    framework: Framework, catalog_server: CatalogServer, manager_factory: ManagerFactory
) -> None:
    project = f"wqop-test-{uuid.uuid4().hex[:8]}"
    manager = manager_factory(framework=framework, name=project, catalog=catalog_server.address)
    manager_factory(framework=framework, name=f"{project}-other", catalog=catalog_server.address)

    async def scenario() -> None:
        deadline = time.monotonic() + 30  # a manager reports as soon as it starts waiting
        found = await find_managers(catalog_server.address, project)
        while not found and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            found = await find_managers(catalog_server.address, project)
        [record] = found
        assert record.project == project
        assert (record.host, record.port) == ("127.0.0.1", manager.port)
        assert abs(record.last_heard - time.time()) < 30
        assert record.framework is framework
        # The record leads to the manager itself.
        client = StatusClient.for_address(record.address, timeout=5, framework=record.framework)
        status = await client.queue_status()
        assert (status.project, status.port) == (project, manager.port)
        # Not another project's, and never a stale record.
        assert await find_managers(catalog_server.address, f"{project}-absent") == []
        await asyncio.sleep(1.1)  # the manager reports again only after 60 s
        assert await find_managers(catalog_server.address, project, max_age_s=1.0) == []

    asyncio.run(asyncio.wait_for(scenario(), 60))
