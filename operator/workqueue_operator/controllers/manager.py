"""WorkQueueManager: deploy it (InCluster), poll its status port and hand what the poll means
(``managers.status``) to the reconcile loop. Glue only."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import kopf

from workqueue_operator.api.acceptance import judge_manager
from workqueue_operator.api.manager import ManagerMode, WorkQueueManagerSpec
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.kinds import MANAGERS
from workqueue_operator.controllers.loop import Kind, Outcome, Pass, on_event
from workqueue_operator.controllers.reach import poll_manager
from workqueue_operator.k8s.connection import manager_connection
from workqueue_operator.k8s.manager_objects import (
    OPERATOR_IMAGE,
    manager_deployment,
    manager_service,
)
from workqueue_operator.managers.status import poll_status, queue_figures


@kopf.index(*MANAGERS)
def manager_names(*, namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Names of WorkQueueManagers by namespace, for WorkerPools' managerRef checks."""
    return {namespace or "": name}


@dataclass(frozen=True)
class ManagerMemory:
    """What a manager's passes carry: the generation whose Deployment was last applied."""

    deployed_generation: int | None = None


async def reconcile_manager(p: Pass[WorkQueueManagerSpec, ManagerMemory]) -> Outcome[ManagerMemory]:
    """One pass over an accepted WorkQueueManager."""
    spec, memory = p.spec, p.memory
    if spec.mode is ManagerMode.IN_CLUSTER and memory.deployed_generation != p.generation:
        agent_image = os.environ.get("WORKQUEUE_OPERATOR_IMAGE", OPERATOR_IMAGE)
        deployment = manager_deployment(p.name, p.namespace, p.uid, spec, agent_image)
        await asyncio.to_thread(p.kube.apply, deployment)
        await asyncio.to_thread(
            p.kube.apply, manager_service(p.name, p.namespace, p.uid, spec.port)
        )
        memory = ManagerMemory(deployed_generation=p.generation)
        p.logger.info(f"applied the manager's Deployment and Service (generation {p.generation})")
    poll = await poll_manager(manager_connection(p.name, p.namespace, spec), p.namespace, p.kube)
    fields, events = poll_status(p.status, poll, p.generation)
    queue = queue_figures(poll.queue) if poll.queue is not None else None
    metrics.set_manager_figures(p.namespace, p.name, reachable=poll.reachable, queue=queue)
    return Outcome(fields, memory, float(spec.poll_interval_seconds), events)


MANAGER = Kind(
    name="WorkQueueManager",
    plural=MANAGERS[2],
    spec_model=WorkQueueManagerSpec,
    accepted_phase="Pending",
    judge=lambda spec, context: judge_manager(
        spec, lambda secret: context.kube.secret_exists(context.namespace, secret)
    ),
    reconcile=reconcile_manager,
    new_memory=ManagerMemory,
    forget=metrics.forget_manager,
)


@kopf.on.event(*MANAGERS)
async def watch(**kwargs: Any) -> None:
    """Each WorkQueueManager's watch events start, wake and stop its loop."""
    await on_event(MANAGER, **kwargs)
