"""WorkQueueManager: one daemon per object that checks it, deploys it (InCluster), polls the
manager's status port and writes what it found. Glue only: decisions are in acceptance,
connection, manager_status and k8s.manager_objects."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import kopf

from workqueue_operator.api.acceptance import judge_manager
from workqueue_operator.api.common import now
from workqueue_operator.api.manager import ManagerMode, WorkQueueManagerSpec
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.conditions import accept_spec
from workqueue_operator.controllers.kinds import MANAGERS
from workqueue_operator.k8s.client import KubeApi
from workqueue_operator.k8s.connection import ManagerConnection, manager_connection
from workqueue_operator.k8s.manager_objects import (
    OPERATOR_IMAGE,
    manager_deployment,
    manager_service,
)
from workqueue_operator.managers.status import ManagerPoll, poll_status
from workqueue_operator.wq.catalog import CatalogError, find_managers
from workqueue_operator.wq.status import (
    AuthenticationError,
    FrameworkMismatchError,
    StatusClient,
    StatusError,
)

PLURAL = MANAGERS[2]
DEFAULT_CATALOG = "catalog.cse.nd.edu:9097"
STATUS_TIMEOUT_S = 5.0
INVALID_RECHECK_S = 10.0


@kopf.index(*MANAGERS)
def manager_names(*, namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Names of WorkQueueManagers by namespace, for WorkerPools' managerRef checks."""
    return {namespace or "": name}


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


def _deploy(name: str, namespace: str, uid: str, spec: WorkQueueManagerSpec, kube: KubeApi) -> None:
    agent_image = os.environ.get("WORKQUEUE_OPERATOR_IMAGE", OPERATOR_IMAGE)
    kube.apply(manager_deployment(name, namespace, uid, spec, agent_image))
    kube.apply(manager_service(name, namespace, uid, spec.port))


@dataclass
class ManagerMemory:
    """What a manager's daemon carries between passes."""

    deployed_generation: int | None = None


async def reconcile_manager(
    *, name: str, ns: str, body: kopf.Body, state: ManagerMemory, kube: KubeApi, logger: kopf.Logger
) -> float:
    """One pass over a WorkQueueManager; returns the seconds until the next one."""
    generation = body.metadata.get("generation")
    status = dict(body.status)
    acceptance = await accept_spec(
        WorkQueueManagerSpec,
        body.spec,
        lambda spec: judge_manager(spec, lambda secret: kube.secret_exists(ns, secret)),
        body=body,
        status=status,
        generation=generation,
        accepted_phase="Pending",
    )
    fields, spec = acceptance.fields, acceptance.spec
    status |= fields
    if spec is None:
        if fields:
            await asyncio.to_thread(kube.patch_custom_status, PLURAL, ns, name, fields)
        return INVALID_RECHECK_S

    if spec.mode is ManagerMode.IN_CLUSTER and state.deployed_generation != generation:
        await asyncio.to_thread(_deploy, name, ns, body.metadata.uid or "", spec, kube)
        state.deployed_generation = generation
        logger.info("applied the manager's Deployment and Service", extra={"gen": generation})

    poll = await poll_manager(manager_connection(name, ns, spec), ns, kube)
    poll_fields, reachability_changed = poll_status(status, poll, generation)
    if reachability_changed:
        post = kopf.info if poll.reachable else kopf.warn
        post(body, reason=poll.reason, message=poll.describe())
    figures = metrics.QueueFigures.from_status(poll.queue) if poll.queue is not None else None
    metrics.set_manager_figures(ns, name, reachable=poll.reachable, queue=figures)
    await asyncio.to_thread(kube.patch_custom_status, PLURAL, ns, name, fields | poll_fields)
    return float(spec.poll_interval_seconds)


@kopf.daemon(*MANAGERS, cancellation_timeout=10)
async def manage(
    *,
    stopped: kopf.DaemonStopped,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    memo: Any,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    ns = namespace or ""
    state = ManagerMemory()
    while not stopped:
        with metrics.reconcile("WorkQueueManager"):
            interval = await reconcile_manager(
                name=name, ns=ns, body=body, state=state, kube=memo.kube, logger=logger
            )
        await stopped.wait(interval)
    if stopped.reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in stopped.reason:
        metrics.forget_manager(ns, name)
