"""How the operator reaches a manager's status port, for the manager's and its pools' passes:
through the address it knows or the catalog, with the password from its Secret."""

from __future__ import annotations

import asyncio

from workqueue_operator.api.common import now
from workqueue_operator.k8s.client import KubeApi
from workqueue_operator.k8s.connection import ManagerConnection, TlsClient
from workqueue_operator.managers.status import UNREACHABLE, ManagerPoll
from workqueue_operator.wq.catalog import CatalogError, find_managers
from workqueue_operator.wq.status import (
    AuthenticationError,
    FrameworkMismatchError,
    StatusClient,
    StatusError,
    TlsError,
    client_tls,
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
    tls = None
    if connection.tls is not None:
        try:
            ca = await _ca(connection.tls, namespace, kube)
            tls = client_tls(ca, verify=connection.tls.verify)
        except TlsError as error:
            return ManagerPoll(now(), address, reason="TLSFailed", message=str(error))
    return StatusClient.for_address(
        address,
        password=password,
        timeout=STATUS_TIMEOUT_S,
        framework=connection.framework,
        tls=tls,
        server_name=connection.tls.server_name if connection.tls else None,
    )


async def _ca(tls: TlsClient, namespace: str, kube: KubeApi) -> bytes | None:
    """The PEM the manager's certificate is checked against (None: the system's roots). An
    InCluster manager's Secret without ca.crt (the user's own, or a public issuer's) means the
    system's roots; a named ConfigMap that is missing is an error."""
    if not tls.verify:
        return None
    if tls.ca_secret is not None:
        ref = tls.ca_secret
        return await asyncio.to_thread(kube.secret_value, namespace, ref.name, ref.key)
    if tls.ca_config_map is not None:
        ref_map = tls.ca_config_map
        ca = await asyncio.to_thread(kube.config_map_value, namespace, ref_map.name, ref_map.key)
        if ca is None:
            raise TlsError(f"ConfigMap {ref_map.name} has no key {ref_map.key} (the manager's CA)")
        return ca
    return None


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
    except TlsError as error:
        return ManagerPoll(at, address, reason="TLSFailed", message=str(error))
    except StatusError as error:
        return ManagerPoll(at, address, reason=UNREACHABLE, message=str(error))
    return ManagerPoll(at, address, queue=queue, categories=categories)
