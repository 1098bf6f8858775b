"""How the operator reaches a manager's status port, for the manager's and its pools' passes:
through the address it knows or the catalog, with the password from its Secret."""

from __future__ import annotations

import asyncio

from workqueue_operator.api.common import now
from workqueue_operator.k8s.client import KubeApi
from workqueue_operator.k8s.connection import ManagerConnection
from workqueue_operator.managers.status import ManagerPoll
from workqueue_operator.wq.catalog import CatalogError, find_managers
from workqueue_operator.wq.status import (
    AuthenticationError,
    FrameworkMismatchError,
    StatusClient,
    StatusError,
)

DEFAULT_CATALOG = "catalog.cse.nd.edu:9097"
STATUS_TIMEOUT_S = 5.0


async def status_client(
    connection: ManagerConnection, namespace: str, kube: KubeApi
) -> StatusClient | ManagerPoll:
    """A client for the manager's status port, or a poll result saying why there is none
    (its project name is not in the catalog)."""
    address = connection.status_address
    if address is None:
        catalog = connection.catalog or DEFAULT_CATALOG
        try:
            records = await find_managers(catalog, connection.project_name or "")
        except CatalogError as error:
            return ManagerPoll(now(), None, reason="CatalogUnreachable", message=str(error))
        if not records:
            return ManagerPoll(
                now(),
                None,
                reason="NotInCatalog",
                message=f"catalog {catalog} knows no live manager of project "
                f"{connection.project_name!r}",
            )
        address = records[0].address
    password = None
    if connection.password is not None:
        ref = connection.password
        password = await asyncio.to_thread(kube.secret_value, namespace, ref.name, ref.key)
    return StatusClient.for_address(
        address, password=password, timeout=STATUS_TIMEOUT_S, framework=connection.framework
    )


async def poll_manager(connection: ManagerConnection, namespace: str, kube: KubeApi) -> ManagerPoll:
    """Ask the manager for its queue; never raises for an unreachable manager."""
    at = now()
    client = await status_client(connection, namespace, kube)
    if isinstance(client, ManagerPoll):
        return client
    address = client.address
    try:
        queue = await client.queue_status()
        categories = await client.wable_status()
    except AuthenticationError as error:
        return ManagerPoll(at, address, reason="AuthenticationFailed", message=str(error))
    except FrameworkMismatchError as error:
        return ManagerPoll(at, address, reason="FrameworkMismatch", message=str(error))
    except StatusError as error:
        return ManagerPoll(at, address, reason="Unreachable", message=str(error))
    return ManagerPoll(at, address, queue=queue, categories=categories)
